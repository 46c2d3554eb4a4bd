// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"slices"
	"time"

	"github.com/toozgo/tooz"
)

// leaderWatchTests pin WatchLeader: the current leader at once, then
// every change, pushed, in order, without repeats, on any coordinator.
var leaderWatchTests = []test{
	{"WatchLeaderFollowsEveryChange", testWatchLeaderChanges},
	{"WatchLeaderSeesCrashFailover", testWatchLeaderFailover},
	{"WatchLeaderStopIsFinal", testWatchLeaderStop},
}

// watchLeader starts a leader watch on c and returns its recorder, which
// already holds the first report.
func watchLeader(f *fixture, c *tooz.Coordinator, g string) (*recorder[string], *tooz.Watch) {
	f.Helper()
	rec := newRecorder[string]()
	w, err := c.WatchLeader(f.ctx, g, func(e tooz.LeaderChanged) {
		if e.Group != g {
			rec.add("wrong group " + e.Group)
			return
		}
		rec.add(e.Leader)
	})
	f.must(err, "watch leader")
	f.Cleanup(w.Stop)
	if got := rec.snapshot(); len(got) != 1 {
		f.Fatalf("WatchLeader returned after %d reports, want the current leader reported once before it returns", len(got))
	}
	return rec, w
}

// wantLeaders waits until rec holds len(want) reports and checks them.
func wantLeaders(f *fixture, rec *recorder[string], d time.Duration, what string, want ...string) {
	f.Helper()
	rec.waitFor(f, d, what, func(e []string) bool { return len(e) >= len(want) })
	if got := rec.snapshot(); !slices.Equal(got, want) {
		f.Fatalf("%s: leader reports %q, want %q", what, got, want)
	}
}

func testWatchLeaderChanges(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	obs := f.open(f.name("observer"))
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	// The group does not exist yet: no leader, and the watch follows it
	// once it does.
	rec, _ := watchLeader(f, obs, g)
	wantLeaders(f, rec, eventWait, "before any campaign", "")
	la, err := a.Campaign(ctx, g)
	f.must(err, "a campaigns")
	wantLeaders(f, rec, eventWait, "a elected", "", a.MemberID())
	// The leader's own coordinator sees it too.
	own, _ := watchLeader(f, a, g)
	wantLeaders(f, own, eventWait, "the leader's own watch", a.MemberID())
	won := make(chan *tooz.Leadership, 1)
	go func() {
		lb, err := b.Campaign(ctx, g)
		if err != nil {
			f.Errorf("b campaigns: %v", err)
		}
		won <- lb
	}()
	f.must(la.Resign(ctx), "a resigns")
	lb := <-won
	if lb == nil {
		f.FailNow()
	}
	// b may not have been queued yet when a resigned: then the group was
	// leaderless for a moment, and a report of it is right.
	var want []string
	for _, mid := range [][]string{nil, {""}} {
		w := append(append([]string{"", a.MemberID()}, mid...), b.MemberID())
		evs := rec.waitFor(f, eventWait, "b takes over", func(e []string) bool { return len(e) >= 3 && e[len(e)-1] == b.MemberID() })
		if slices.Equal(evs, w) {
			want = w
		}
	}
	if want == nil {
		f.Fatalf("b takes over: leader reports %q, want a, b with at most a moment of none between", rec.snapshot())
	}
	// Every watch sees b before b resigns (a term shorter than a watch's
	// read may be missed: see WatchLeader).
	own.waitFor(f, eventWait, "the old leader's watch seeing b", func(e []string) bool { return e[len(e)-1] == b.MemberID() })
	f.must(lb.Resign(ctx), "b resigns")
	wantLeaders(f, rec, eventWait, "nobody leads", append(want, "")...)
	evs := own.waitFor(f, eventWait, "the old leader's watch", func(e []string) bool { return e[len(e)-1] == "" && len(e) >= 3 })
	if evs[0] != a.MemberID() || !slices.Contains(evs, b.MemberID()) {
		f.Fatalf("the old leader's watch reported %q", evs)
	}
}

func testWatchLeaderFailover(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	obs := f.open(f.name("observer"))
	a := f.openUnmanaged(f.name("a"))
	b := f.open(f.name("b"))
	_, err := a.Campaign(ctx, g)
	f.must(err, "a campaigns")
	rec, _ := watchLeader(f, obs, g)
	wantLeaders(f, rec, eventWait, "a leads", a.MemberID())
	type result struct {
		l   *tooz.Leadership
		err error
	}
	won := make(chan result, 1)
	go func() {
		lb, err := b.Campaign(ctx, g)
		won <- result{lb, err}
	}()
	f.crash(a)
	// Between a's expiry and b's election the group may be reported
	// leaderless for a moment; b must follow.
	evs := rec.waitFor(f, f.bound+slack+eventWait, "b after a crashed", func(e []string) bool { return e[len(e)-1] == b.MemberID() })
	for i, id := range evs {
		if id != a.MemberID() && id != b.MemberID() && id != "" {
			f.Fatalf("report %d: leader %q, neither a, b nor none (%q)", i, id, evs)
		}
		if i > 0 && evs[i-1] == id {
			f.Fatalf("report %d repeats %q (%q)", i, id, evs)
		}
	}
	r := <-won
	f.must(r.err, "b's campaign")
	f.must(r.l.Resign(ctx), "b resigns")
}

func testWatchLeaderStop(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	obs := f.open(f.name("observer"))
	a := f.open(f.name("a"))
	stopped, w := watchLeader(f, obs, g)
	w.Stop()
	w.Stop() // harmless
	la, err := a.Campaign(ctx, g)
	f.must(err, "campaign")
	// A second watch proves the change happened; the stopped one never
	// reports it.
	rec, _ := watchLeader(f, obs, g)
	wantLeaders(f, rec, eventWait, "a leads", a.MemberID())
	f.must(la.Resign(ctx), "resign")
	wantLeaders(f, rec, eventWait, "nobody leads", a.MemberID(), "")
	if got := stopped.snapshot(); !slices.Equal(got, []string{""}) {
		f.Fatalf("a stopped watch reported %q after Stop", got)
	}
	// Stopping from within the hook is harmless too.
	var self *tooz.Watch
	done := make(chan struct{})
	self, err = obs.WatchLeader(ctx, g, func(tooz.LeaderChanged) {
		if self != nil {
			self.Stop()
			close(done)
		}
	})
	f.must(err, "watch leader")
	la, err = a.Campaign(ctx, g)
	f.must(err, "campaign again")
	select {
	case <-done:
	case <-time.After(eventWait):
		f.Fatal("the watch that stops itself was not called")
	}
	f.must(la.Resign(ctx), "resign again")
}
