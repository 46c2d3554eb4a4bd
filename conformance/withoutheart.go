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

var withoutHeartTests = []test{
	{"WithoutHeartStopsBeatingLosesAll", testWithoutHeartLosesAll},
}

// testWithoutHeartLosesAll opens a member WithoutHeart that never calls
// Heartbeat: after the timeout it must be gone from its group and its lock
// free, on every backend, whatever keeps sessions alive on its own; a
// Heartbeat then brings it back.
func testWithoutHeartLosesAll(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	lockName := f.name("lock")
	a := f.open(f.name("a"), tooz.WithoutHeart())
	w := f.open(f.name("watcher"))
	f.must(a.JoinGroupCreate(ctx, g, nil), "a joins")
	la := a.Lock(lockName)
	f.must(la.Acquire(ctx), "a locks")
	left := newRecorder[tooz.MemberLeft]()
	wl, err := w.WatchLeaveGroup(ctx, g, left.add)
	f.must(err, "watch leave")
	defer wl.Stop()
	since := time.Now()
	left.waitFor(f, f.bound+slack, "the leave of the member that stopped beating", func(e []tooz.MemberLeft) bool {
		return slices.Equal(e, []tooz.MemberLeft{{Group: g, Member: a.MemberID()}})
	})
	f.Logf("member without beats left after %v (timeout %v)", time.Since(since).Round(time.Millisecond), f.h.Timeout())
	select {
	case <-la.Lost():
	case <-time.After(slack):
		f.Fatalf("the lock of a member that stopped beating is not reported lost")
	}
	lctx, cancel := context.WithTimeout(ctx, f.bound+slack)
	defer cancel()
	f.must(w.Lock(lockName).Acquire(lctx), "another member takes the lock of the member that stopped beating")
	// A beat brings it back: a new session, and its membership again.
	if _, err := a.Heartbeat(ctx); err != nil && !errors.Is(err, tooz.ErrSessionLost) {
		f.Fatalf("heartbeat after the loss: %v, want nil or ErrSessionLost", err)
	}
	ms, err := w.Members(ctx, g)
	f.must(err, "members after the beat")
	if !slices.Contains(ms, a.MemberID()) {
		f.Fatalf("after a Heartbeat the member is not back in its group: %q", ms)
	}
}
