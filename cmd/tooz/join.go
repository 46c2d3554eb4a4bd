// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/toozgo/tooz"
)

var joinCommand = &command{
	name:    "join",
	args:    "GROUP",
	summary: "join GROUP (creating it) and stay a member until interrupted",
	details: `
The membership lasts while tooz runs: Ctrl-C, SIGTERM or SIGHUP leave the
group and exit 0. If tooz is killed, the member expires after the liveness
timeout. If the backend loses the session, tooz joins again by itself. A
tooz started with the --member of one that was killed waits until the old
membership expires (at once on file://, where a dead process is seen at
once), then joins.`,
	example: `
tooz join workers --member web1 --capabilities '{"zone":"a","slots":4}'`,
	run: runJoin,
}

func runJoin(a *app, me *command, args []string) error {
	pos, err := a.parseArgs(me, args, "GROUP")
	if err != nil {
		return err
	}
	group := pos[0]
	caps, err := parseCapabilities("join", a.capabilities)
	if err != nil {
		return err
	}
	c, err := a.open()
	if err != nil {
		return err
	}
	defer a.close(c)
	// A previous incarnation with the same --member (a crashed or killed
	// tooz) keeps its membership until its liveness expires: wait for
	// that (by default up to twice the timeout, Consul's bound, plus a
	// request), unless --no-wait.
	wait := 2*c.Timeout() + a.requestTimeout
	if a.wait > 0 {
		wait = a.wait
	}
	join := c.JoinGroup
	if a.noWait {
		wait, join = a.requestTimeout, c.TryJoinGroup
	}
	ctx, cancel := context.WithTimeout(a.ctx, wait)
	err = join(ctx, group, caps)
	if errors.Is(err, tooz.ErrGroupNotCreated) {
		if err = c.CreateGroup(ctx, group); err == nil || errors.Is(err, tooz.ErrGroupAlreadyExists) {
			err = join(ctx, group, caps)
		}
	}
	cancel()
	if errors.Is(err, tooz.ErrMemberAlreadyJoined) && a.signals.received() == nil {
		if a.noWait {
			return exitf(exitFailure, "tooz: member %q is already in group %q (another tooz with the same --member, or one killed less than the timeout ago?)", c.MemberID(), group)
		}
		return exitf(exitFailure, "tooz: member %q is already in group %q and stayed for %v (another live tooz with the same --member?)",
			c.MemberID(), group, wait.Round(time.Millisecond))
	}
	if err != nil {
		return a.requestError(err)
	}
	a.warn("joined", map[string]any{"group": group, "member": c.MemberID()},
		fmt.Sprintf("joined group %q as %q; Ctrl-C to leave", group, c.MemberID()))
	<-a.ctx.Done()

	lctx, lcancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer lcancel()
	if err := c.LeaveGroup(lctx, group); err != nil {
		return fmt.Errorf("leaving group %q: %w", group, err)
	}
	a.warn("left", map[string]any{"group": group, "member": c.MemberID()},
		fmt.Sprintf("left group %q", group))
	return nil
}
