// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/toozgo/tooz"
)

var livenessTests = []test{
	{"MemberExpiresAfterCrash", testMemberExpiresAfterCrash},
	{"LivenessLostThenRecovered", testLivenessLostThenRecovered},
}

var characteristicTests = []test{
	{"DeclaredCharacteristicsHold", testDeclaredCharacteristics},
	{"RequireRefusesMissingCharacteristic", testRequire},
}

func testMemberExpiresAfterCrash(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	a := f.open(f.name("a"))
	w := f.open(f.name("watcher"))
	f.must(a.JoinGroupCreate(ctx, g, nil), "a joins")
	left := newRecorder[tooz.MemberLeft]()
	wl, err := w.WatchLeaveGroup(ctx, g, left.add)
	f.must(err, "watch leave")
	defer wl.Stop()
	crashed := time.Now()
	f.crash(a)
	left.waitFor(f, f.bound+slack, "the crashed member's leave", func(e []tooz.MemberLeft) bool {
		return slices.Equal(e, []tooz.MemberLeft{{Group: g, Member: a.MemberID()}})
	})
	f.Logf("crashed member left after %v (timeout %v)", time.Since(crashed).Round(time.Millisecond), f.h.Timeout())
	ms, err := w.Members(ctx, g)
	f.must(err, "members")
	if slices.Contains(ms, a.MemberID()) {
		f.Fatalf("Members() = %q still lists the expired member", ms)
	}
}

// testLivenessLostThenRecovered pins the liveness rules of the README: when a
// member's liveness ends, its locks report Lost and its leaderships end
// with an event before anyone else can take them; the member then gets a
// new session and re-joins its groups, with events.
func testLivenessLostThenRecovered(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	lockName := f.name("lock")
	a := f.openExpirable(f.name("a"))
	b := f.open(f.name("b"))
	f.must(a.JoinGroupCreate(ctx, g, []byte("caps")), "a joins")
	la := a.Lock(lockName)
	f.must(la.Acquire(ctx), "a locks")
	lost := newRecorder[tooz.LeadershipLost]()
	wl, err := a.WatchLeadershipLost(ctx, g, lost.add)
	f.must(err, "watch leadership lost")
	defer wl.Stop()
	lead, err := a.Campaign(ctx, g)
	f.must(err, "a campaigns")

	type ev struct{ kind, member string }
	seen := newRecorder[ev]()
	wj, err := b.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) { seen.add(ev{"join", e.Member}) })
	f.must(err, "watch join")
	defer wj.Stop()
	wlv, err := b.WatchLeaveGroup(ctx, g, func(e tooz.MemberLeft) { seen.add(ev{"leave", e.Member}) })
	f.must(err, "watch leave")
	defer wlv.Stop()

	// b waits for the lock and the leadership; when it gets each, a must
	// already have been told it lost it.
	type took struct {
		what       string
		aLostFirst bool
		err        error
	}
	results := make(chan took, 2)
	bctx, bcancel := context.WithTimeout(ctx, f.bound+slack+f.h.Timeout())
	defer bcancel()
	go func() {
		err := b.Lock(lockName).Acquire(bctx)
		results <- took{"lock", closed(la.Lost()), err}
	}()
	go func() {
		_, err := b.Campaign(bctx, g)
		results <- took{"leadership", closed(lead.Lost()), err}
	}()

	expired := time.Now()
	f.expire(a)
	for range 2 {
		tk := <-results
		f.must(tk.err, "b takes the "+tk.what+" after a's liveness ended")
		if !tk.aLostFirst {
			f.Fatalf("b got the %s while a had not been told it lost it", tk.what)
		}
	}
	f.Logf("lock and leadership moved %v after a stopped renewing (timeout %v)", time.Since(expired).Round(time.Millisecond), f.h.Timeout())
	if !closed(la.Lost()) || la.Held() {
		f.Fatal("a's lock handle still claims the lock")
	}
	if !errors.Is(la.Err(), tooz.ErrSessionLost) || !errors.Is(lead.Err(), tooz.ErrSessionLost) {
		f.Fatalf("loss reasons: lock %v, leadership %v; want both wrapping ErrSessionLost", la.Err(), lead.Err())
	}
	if id, err := b.Lock(lockName).Owner(ctx); err != nil || id != b.MemberID() {
		f.Fatalf("Lock.Owner() = %q, %v; want b", id, err)
	}
	evs := lost.waitFor(f, eventWait, "a's LeadershipLost event", func(e []tooz.LeadershipLost) bool { return len(e) >= 1 })
	if evs[0].Member != a.MemberID() || !errors.Is(evs[0].Err, tooz.ErrSessionLost) {
		f.Fatalf("LeadershipLost = %+v, want a's, with an error wrapping ErrSessionLost", evs[0])
	}
	f.wantErr(la.Release(ctx), tooz.ErrLockNotHeld, "release of a lost lock")
	// The lock and leadership moved when a's coordinator gave them up on
	// its own clock; a's membership ends when the backend expires a's
	// session, which a loaded server can do late. What is pinned is that b
	// is told once the backend has ended it, so a wait that runs out asks
	// the backend which of the two is late.
	left := func(e []ev) bool { return slices.Contains(e, ev{"leave", a.MemberID()}) }
	if _, ok := seen.await(f, f.bound+slack, "a's leave", left); !ok {
		ms, err := b.Members(ctx, g)
		switch {
		case err != nil:
			f.Fatalf("no leave event for a %v after its liveness ended, and Members() failed: %v", time.Since(expired).Round(time.Millisecond), err)
		case slices.Contains(ms, a.MemberID()):
			f.Logf("the backend still lists a %v after its liveness ended (Members() = %q); waiting for its expiry", time.Since(expired).Round(time.Millisecond), ms)
			seen.waitFor(f, eventWait, "a's leave once the backend expires it", left)
		default:
			seen.waitFor(f, eventWait, "a's leave: Members() no longer lists a, but no event came", left)
		}
	}
	f.Logf("b was told of a's leave %v after a stopped renewing", time.Since(expired).Round(time.Millisecond))

	// a comes back: a new session, and its groups re-joined.
	if _, ok := f.h.(SessionExpirer); !ok {
		_, err := a.Heartbeat(ctx)
		f.wantErr(err, tooz.ErrSessionLost, "the first heartbeat after the liveness expired")
		if _, err := a.Heartbeat(ctx); err != nil {
			f.Fatalf("the heartbeat after a lost session: %v", err)
		}
	}
	seen.waitFor(f, f.bound+slack, "a's re-join", func(e []ev) bool {
		i := slices.Index(e, ev{"leave", a.MemberID()})
		return i >= 0 && slices.Contains(e[i:], ev{"join", a.MemberID()})
	})
	caps, err := b.MemberCapabilities(ctx, g, a.MemberID())
	f.must(err, "a's capabilities after re-joining")
	if string(caps) != "caps" {
		f.Fatalf("re-joined with capabilities %q, want the last ones set (%q)", caps, "caps")
	}
	// a can lock again once b lets go.
	if s := a.Stats(); s.SessionsLost == 0 {
		f.Fatalf("Stats().SessionsLost = 0 after a lost session")
	}
}

func testDeclaredCharacteristics(f *fixture) {
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	chars := a.Characteristics()
	has := func(c tooz.Characteristic) bool { return slices.Contains(chars, c) }
	f.Logf("declared: %v", chars)
	if !has(tooz.DistributedAcrossThreads) {
		f.Fatal("every driver coordinates goroutines of one process; DistributedAcrossThreads must be declared")
	}
	checked := 0
	if has(tooz.Linearizable) || has(tooz.SameViewAcrossClients) || has(tooz.Sequential) {
		// A completed write by one client is seen by another's next read.
		checked++
		ctx := f.ctx
		g := f.name("g")
		f.must(a.CreateGroup(ctx, g), "create")
		for i := range 10 {
			f.must(a.JoinGroup(ctx, g, []byte(fmt.Sprint(i))), "join")
			caps, err := b.MemberCapabilities(ctx, g, a.MemberID())
			if err != nil || string(caps) != fmt.Sprint(i) {
				f.Fatalf("round %d: b read %q, %v right after a's join completed", i, caps, err)
			}
			f.must(a.LeaveGroup(ctx, g), "leave")
			if _, err := b.MemberInfo(ctx, g, a.MemberID()); !errors.Is(err, tooz.ErrMemberNotJoined) {
				f.Fatalf("round %d: b still sees a right after a's leave completed: %v", i, err)
			}
			l, err := a.Campaign(ctx, g)
			f.must(err, "campaign")
			if id, err := b.Leader(ctx, g); err != nil || id != a.MemberID() {
				f.Fatalf("round %d: b reads leader %q, %v right after a was elected", i, id, err)
			}
			f.must(l.Resign(ctx), "resign")
			if _, err := b.Leader(ctx, g); !errors.Is(err, tooz.ErrNoLeader) {
				f.Fatalf("round %d: b still reads a leader right after a resigned: %v", i, err)
			}
		}
	}
	if has(tooz.NonTimeoutBased) {
		// Ownership ends with its holder, not after a TTL.
		checked++
		c, err := f.h.Open(f.ctx, f.T, f.name("c"))
		f.must(err, "open c")
		name := f.name("lock")
		f.must(c.Lock(name).Acquire(f.ctx), "c locks")
		f.crash(c)
		ctx, cancel := context.WithTimeout(f.ctx, f.h.Timeout()/2)
		defer cancel()
		f.must(b.Lock(name).Acquire(ctx), "a non-timeout-based driver frees a crashed holder's lock well before the timeout")
	}
	if checked == 0 {
		f.Logf("no consistency characteristic declared beyond threads")
	}
}

func testRequire(f *fixture) {
	a := f.open(f.name("a"))
	chars := a.Characteristics()
	var missing tooz.Characteristic
	for _, c := range tooz.AllCharacteristics() {
		if !slices.Contains(chars, c) {
			missing = c
			break
		}
	}
	if missing != "" {
		_, err := f.h.Open(f.ctx, f.T, f.name("b"), tooz.Require(missing))
		f.wantErr(err, tooz.ErrDriverChosenPoorly, fmt.Sprintf("Open requiring %s, which the driver does not declare", missing))
	}
	c, err := f.h.Open(f.ctx, f.T, f.name("c"), tooz.Require(chars...))
	f.must(err, "Open requiring exactly what the driver declares")
	f.must(c.Close(f.ctx), "close")
}
