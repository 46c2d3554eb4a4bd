// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"

	"github.com/toozgo/tooz"
)

var ownerCommand = &command{
	name:    "owner",
	args:    "LOCK",
	summary: "print the member holding lock LOCK (status 1 when it is free)",
	example: `
tooz owner nightly-backup || echo "nobody runs the backup"
tooz owner nightly-backup --json`,
	run: runOwner,
}

func runOwner(a *app, me *command, args []string) error {
	pos, err := a.parseArgs(me, args, "LOCK")
	if err != nil {
		return err
	}
	return printHolder(a, pos[0], holderQuery{
		key: "lock", field: "owner", none: tooz.ErrNoOwner, noneMsg: "lock %q is not held",
		holder: func(ctx context.Context, c *tooz.Coordinator, name string) (string, error) {
			return c.Lock(name).Owner(ctx)
		},
	})
}

var groupCommand = &command{
	name:    "group",
	args:    "delete GROUP",
	summary: "delete GROUP (status 1 if it still has members or does not exist)",
	example: `
tooz group delete old-workers`,
	run: runGroup,
}

func runGroup(a *app, me *command, args []string) error {
	pos, err := a.parseArgs(me, args, "ACTION (delete)", "GROUP")
	if err != nil {
		return err
	}
	if pos[0] != "delete" {
		return usageError(me.name, "tooz group: unknown action %q (want: delete)", pos[0])
	}
	group := pos[1]
	ctx, c, done, err := a.openRequest()
	if err != nil {
		return err
	}
	defer done()
	if err := c.DeleteGroup(ctx, group); err != nil {
		return a.requestError(err)
	}
	if a.json {
		a.emitJSON(a.stdout, map[string]any{"group": group, "deleted": true})
	}
	return nil
}
