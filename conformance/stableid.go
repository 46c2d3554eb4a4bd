// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/toozgo/tooz"
)

var stableIDTests = []test{
	{"RestartWithSameIDRejoins", testRestartWithSameID},
}

// testLiveDuplicateID checks that b, a second live coordinator with the
// member ID that already holds g, cannot join: TryJoinGroup fails at once,
// JoinGroup when its context ends.
func testLiveDuplicateID(f *fixture, b *tooz.Coordinator, g string) {
	f.Helper()
	f.wantErr(b.TryJoinGroup(f.ctx, g, nil), tooz.ErrMemberAlreadyJoined, "the same member ID try-joining from a second coordinator")
	ctx, cancel := context.WithTimeout(f.ctx, 300*time.Millisecond)
	defer cancel()
	err := b.JoinGroup(ctx, g, nil)
	f.wantErr(err, tooz.ErrMemberAlreadyJoined, "the same member ID joining from a second live coordinator")
	if !errors.Is(err, context.DeadlineExceeded) {
		f.Fatalf("JoinGroup of a live duplicate returned %v before its context ended: it must wait for the other membership to go", err)
	}
	ms, err := b.Members(f.ctx, g)
	f.must(err, "members")
	if n := len(slices.DeleteFunc(ms, func(m string) bool { return m != b.MemberID() })); n != 1 {
		f.Fatalf("the member ID is listed %d times, want once", n)
	}
}

// testRestartWithSameID crashes a member and starts a new incarnation with
// the same ID at once: its JoinGroup waits for the old membership to expire
// (or for the backend to prove it dead) and then joins; watchers see the
// old incarnation leave, then the new one join.
func testRestartWithSameID(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	id := f.name("worker")
	old := f.open(id)
	w := f.open(f.name("watcher"))
	f.must(old.JoinGroupCreate(ctx, g, []byte("old")), "the first incarnation joins")
	type ev struct{ kind, member string }
	rec := newRecorder[ev]()
	wj, err := w.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) { rec.add(ev{"join", e.Member}) })
	f.must(err, "watch join")
	defer wj.Stop()
	wl, err := w.WatchLeaveGroup(ctx, g, func(e tooz.MemberLeft) { rec.add(ev{"leave", e.Member}) })
	f.must(err, "watch leave")
	defer wl.Stop()

	crashed := time.Now()
	f.crash(old)
	restarted := f.open(id)
	jctx, cancel := context.WithTimeout(ctx, f.bound+slack)
	defer cancel()
	f.must(restarted.JoinGroup(jctx, g, []byte("new")), "the restarted incarnation joins with the same ID")
	took := time.Since(crashed)
	f.Logf("restart with the same ID joined %v after the crash (timeout %v)", took.Round(time.Millisecond), f.h.Timeout())
	caps, err := w.MemberCapabilities(ctx, g, id)
	f.must(err, "capabilities of the restarted member")
	if string(caps) != "new" {
		f.Fatalf("capabilities %q after the restart, want the new incarnation's %q", caps, "new")
	}
	want := []ev{{"leave", id}, {"join", id}}
	evs := rec.waitFor(f, eventWait, "the old incarnation's leave and the new one's join", func(e []ev) bool { return len(e) >= 2 })
	if !slices.Equal(evs, want) {
		f.Fatalf("events %+v, want %+v", evs, want)
	}
	// The new incarnation owns the membership: it can leave it.
	f.must(restarted.LeaveGroup(ctx, g), "the restarted incarnation leaves")
}
