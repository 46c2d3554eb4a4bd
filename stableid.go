// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"errors"
	"fmt"
)

// TryJoinGroup is JoinGroup without waiting: when the group holds a
// membership of this member ID that another coordinator wrote (a live one,
// or a crashed one whose liveness has not yet expired), it fails at once
// with ErrMemberAlreadyJoined.
func (c *Coordinator) TryJoinGroup(ctx context.Context, group string, capabilities []byte) error {
	return c.join(ctx, group, capabilities, false)
}

// join joins group; with wait, a membership of this member ID written by
// another coordinator (a previous incarnation of this process, say, restarted
// with the same ID) is waited out: the join is tried again whenever the
// group's watch reports that member gone, until ctx ends.
func (c *Coordinator) join(ctx context.Context, group string, capabilities []byte, wait bool) error {
	const op = "join"
	if err := validate(op, group, c.member, "", group); err != nil {
		return err
	}
	if err := validCaps(op, group, capabilities); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return wrap(err, op, group, c.member, "")
	}
	ctx, end := c.obs.Begin(ctx, Operation{Name: "join", Kind: "group", Target: group, Backend: c.scheme, Wait: wait})
	var err error
	defer func() { end(err) }()
	err = c.drv.JoinGroup(ctx, group, capabilities)
	if wait && errors.Is(err, ErrMemberAlreadyJoined) {
		c.mu.Lock()
		_, ours := c.joined[group]
		c.mu.Unlock()
		if !ours {
			err = c.awaitMembership(ctx, group, capabilities)
		}
	}
	if err != nil {
		return wrap(err, op, group, c.member, "")
	}
	c.mu.Lock()
	c.joined[group] = append([]byte(nil), capabilities...)
	c.mu.Unlock()
	return nil
}

// awaitMembership follows group until the other incarnation's membership
// is gone, then joins; it returns ErrMemberAlreadyJoined when ctx ends first.
func (c *Coordinator) awaitMembership(ctx context.Context, group string, capabilities []byte) error {
	gone := &goneSink{member: c.member, ch: make(chan struct{}, 1)}
	var (
		stop func()
		err  error
	)
	if mw, ok := c.drv.(MemberWatcher); ok {
		stop, err = mw.WatchMembers(ctx, group, gone)
	} else {
		stop, err = c.drv.WatchGroup(ctx, group, goneLegacy{gone})
	}
	if err != nil {
		return fmt.Errorf("%w (and following the group to wait for it failed: %v)", ErrMemberAlreadyJoined, err)
	}
	defer stop()
	c.log.Info("tooz: the member ID is in the group under another coordinator (a previous incarnation?); waiting for it to leave or expire",
		"group", group)
	for {
		// Try after the watch started, so that a leave before it is not missed.
		err := c.drv.JoinGroup(ctx, group, capabilities)
		if !errors.Is(err, ErrMemberAlreadyJoined) {
			return err
		}
		select {
		case <-gone.ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: still held by another coordinator when the wait ended (%w); a live coordinator with this member ID?", ErrMemberAlreadyJoined, ctx.Err())
		}
	}
}

// goneSink signals when member is not (or no longer) in the group.
type goneSink struct {
	member string
	ch     chan struct{}
}

func (g *goneSink) signal() {
	select {
	case g.ch <- struct{}{}:
	default:
	}
}

func (g *goneSink) Snapshot(members []MemberInfo, _ uint64) {
	for _, m := range members {
		if m.ID == g.member {
			return
		}
	}
	g.signal()
}

func (g *goneSink) Joined(MemberInfo, uint64)  {}
func (g *goneSink) Updated(MemberInfo, uint64) {}

func (g *goneSink) Left(member string, _ uint64) {
	if member == g.member {
		g.signal()
	}
}

// goneLegacy is a goneSink for drivers without MemberWatcher.
type goneLegacy struct{ g *goneSink }

func (l goneLegacy) Reset(members []string) {
	for _, m := range members {
		if m == l.g.member {
			return
		}
	}
	l.g.signal()
}

func (l goneLegacy) Joined(string) {}

func (l goneLegacy) Left(member string) { l.g.Left(member, 0) }
