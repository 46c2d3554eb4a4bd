package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/toozgo/tooz"
)

var joinCommand = &command{
	name:    "join",
	args:    "GROUP",
	summary: "join GROUP (creating it) and stay a member until interrupted",
	details: `
The membership lasts while tooz runs: Ctrl-C, SIGTERM or SIGHUP leave the
group and exit 0. If tooz is killed, the member expires after the liveness
timeout. If the backend loses the session, tooz joins again by itself.`,
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
	ctx, cancel := a.request()
	err = c.JoinGroupCreate(ctx, group, caps)
	cancel()
	if errors.Is(err, tooz.ErrMemberAlreadyJoined) {
		return exitf(exitFailure, "tooz: member %q is already in group %q (another tooz with the same --member?)", c.MemberID(), group)
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
