// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/toozgo/tooz"
)

// leadershipTests pin what a leader can build on: the leadership's
// context, a refused second campaign, a stand-down with a hold-off, and
// the Lead run loop.
var leadershipTests = []test{
	{"LeadershipContextEndsWithIt", testLeadershipContext},
	{"SecondCampaignFailsAtOnce", testSecondCampaign},
	{"StandDownHoldOffKeepsOut", testHoldOff},
	{"StandDownBadHoldOff", testBadHoldOff},
	{"LeadRunsWhileLeading", testLead},
	{"StandDownHandsOverEveryTime", testHandOverLoop},
}

// testHandOverLoop: two candidates (WatchElectedAsLeader) stand down in
// turn, many times: each stand-down elects the other one, never the one
// that stood down (it is a race on backends that do not serve waiters in
// order, so one round proves nothing).
func testHandOverLoop(f *fixture) {
	g := f.name("g")
	rec := newRecorder[string]()
	cs := map[string]*tooz.Coordinator{}
	for _, n := range []string{"a", "b"} {
		c := f.open(f.name(n))
		cs[c.MemberID()] = c
		w, err := c.WatchElectedAsLeader(f.ctx, g, func(e tooz.ElectedAsLeader) { rec.add(e.Member) })
		f.must(err, "watch elected (a candidate)")
		defer w.Stop()
	}
	const rounds = 50
	evs := rec.waitFor(f, eventWait, "a first leader", func(e []string) bool { return len(e) >= 1 })
	for i := range rounds {
		leader := evs[len(evs)-1]
		f.must(cs[leader].StandDown(f.ctx, g), fmt.Sprintf("round %d: %s stands down", i, leader))
		evs = rec.waitFor(f, eventWait, fmt.Sprintf("round %d: the next leader", i), func(e []string) bool { return len(e) >= i+2 })
		if next := evs[i+1]; next == leader {
			f.Fatalf("round %d: %s stood down and was elected again while %s waited (elected so far: %d)", i, leader, otherThan(cs, leader), len(evs))
		}
	}
}

func otherThan(cs map[string]*tooz.Coordinator, id string) string {
	for k := range cs {
		if k != id {
			return k
		}
	}
	return ""
}

func testLeadershipContext(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	a := f.open(f.name("a"))
	l, err := a.Campaign(ctx, g)
	f.must(err, "campaign")
	lctx := l.Context()
	if lctx.Err() != nil {
		f.Fatalf("a fresh leadership's context is done: %v", lctx.Err())
	}
	f.must(l.Resign(ctx), "resign")
	if lctx.Err() == nil {
		f.Fatal("the leadership's context is not done after Resign")
	}
	f.wantErr(context.Cause(lctx), tooz.ErrNotLeader, "the context's cause after Resign")

	// A lost session ends it with the loss as the cause.
	b := f.openExpirable(f.name("b"))
	lb, err := b.Campaign(ctx, g)
	f.must(err, "b campaigns")
	f.expire(b)
	select {
	case <-lb.Context().Done():
	case <-time.After(f.bound + slack):
		f.Fatalf("the leadership's context is not done %v after the session was lost", f.bound+slack)
	}
	f.wantErr(context.Cause(lb.Context()), tooz.ErrSessionLost, "the context's cause after the session was lost")

	// Close ends it as a resignation.
	c := f.openUnmanaged(f.name("c"))
	lc, err := c.Campaign(ctx, g)
	f.must(err, "c campaigns")
	f.must(c.Close(ctx), "close")
	if lc.Context().Err() == nil {
		f.Fatal("the leadership's context is not done after Close")
	}
	f.wantErr(context.Cause(lc.Context()), tooz.ErrNotLeader, "the context's cause after Close")
}

func testSecondCampaign(f *fixture) {
	g := f.name("g")
	a := f.open(f.name("a"))
	l, err := a.Campaign(f.ctx, g)
	f.must(err, "campaign")
	// Within the test's context, not a short one: a Campaign that waited
	// instead of failing would hang until the watchdog.
	_, err = a.Campaign(f.ctx, g)
	f.wantErr(err, tooz.ErrAlreadyLeader, "a second Campaign of the leader")
	if errors.Is(err, tooz.ErrNotAcquired) {
		f.Fatalf("a second Campaign reported %v: it must not look like a timeout", err)
	}
	_, err = a.TryCampaign(f.ctx, g)
	f.wantErr(err, tooz.ErrAlreadyLeader, "a TryCampaign of the leader")
	if closed(l.Lost()) {
		f.Fatal("the refused campaigns ended the leadership")
	}
	f.must(l.Resign(f.ctx), "resign")

	// A candidacy's leadership counts too, and the candidacy goes on
	// once a Campaign of the user's own has ended.
	b := f.open(f.name("b"))
	elected := newRecorder[tooz.ElectedAsLeader]()
	w, err := b.WatchElectedAsLeader(f.ctx, g, elected.add)
	f.must(err, "watch elected")
	defer w.Stop()
	elected.waitFor(f, eventWait, "the candidate's election", func(e []tooz.ElectedAsLeader) bool { return len(e) == 1 })
	_, err = b.Campaign(f.ctx, g)
	f.wantErr(err, tooz.ErrAlreadyLeader, "Campaign while a candidacy leads")
}

func testHoldOff(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	type term struct {
		at    time.Time
		token uint64
	}
	elected := newRecorder[term]()
	w, err := a.WatchElectedAsLeader(ctx, g, func(e tooz.ElectedAsLeader) { elected.add(term{time.Now(), e.FencingToken}) })
	f.must(err, "watch elected")
	defer w.Stop()
	elected.waitFor(f, eventWait, "the only candidate's election", func(e []term) bool { return len(e) == 1 })

	const holdOff = 1500 * time.Millisecond
	began := time.Now()
	f.must(a.StandDown(ctx, g, tooz.HoldOff(holdOff)), "stand down with a hold-off")
	// Within the hold-off this member does not contend: another takes the
	// leadership without waiting, and its own TryCampaign is refused.
	lb, err := b.TryCampaign(ctx, g)
	f.must(err, "another member's TryCampaign during the hold-off")
	if _, err := a.TryCampaign(ctx, g); time.Since(began) < holdOff {
		f.wantErr(err, tooz.ErrNotAcquired, "TryCampaign of the member holding off")
	}
	f.must(lb.Resign(ctx), "the other member resigns")
	// Now the member holding off is the only candidate, yet it waits for
	// its hold-off to pass.
	evs := elected.waitFor(f, holdOff+eventWait, "the candidacy resuming after the hold-off", func(e []term) bool { return len(e) == 2 })
	if again := evs[1].at.Sub(began); again < holdOff {
		f.Fatalf("elected again %v after standing down with a hold-off of %v", again, holdOff)
	}
	if evs[1].token <= lb.FencingToken() {
		f.Fatalf("token %d after the hold-off, not above the interim leader's %d", evs[1].token, lb.FencingToken())
	}
}

func testBadHoldOff(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	a := f.open(f.name("a"))
	l, err := a.Campaign(ctx, g)
	f.must(err, "campaign")
	for _, d := range []time.Duration{-time.Nanosecond, tooz.MaxHoldOff + time.Nanosecond} {
		f.wantErr(a.StandDown(ctx, g, tooz.HoldOff(d)), tooz.ErrInvalidHoldOff, "stand down with a hold-off of "+d.String())
	}
	if closed(l.Lost()) {
		f.Fatal("a refused stand-down ended the leadership")
	}
	id, err := a.Leader(ctx, g)
	f.must(err, "leader")
	if id != a.MemberID() {
		f.Fatalf("Leader() = %q after refused stand-downs, want %q", id, a.MemberID())
	}
	if err := a.Lead(ctx, g, nil); err == nil {
		f.Fatal("Lead with a nil function: no error")
	}
}

func testLead(f *fixture) {
	g := f.name("g")
	type run struct {
		member string
		ctx    context.Context
	}
	runs := newRecorder[run]()
	errBoom := errors.New("the leader's work failed")
	type loop struct {
		c      *tooz.Coordinator
		cancel context.CancelFunc
		done   chan error
	}
	start := func(name string, fail bool) *loop {
		c := f.open(f.name(name))
		ctx, cancel := context.WithCancel(f.ctx)
		lp := &loop{c: c, cancel: cancel, done: make(chan error, 1)}
		go func() {
			lp.done <- c.Lead(ctx, g, func(lctx context.Context) error {
				runs.add(run{c.MemberID(), lctx})
				if fail {
					return errBoom
				}
				<-lctx.Done()
				return lctx.Err()
			})
		}()
		f.Cleanup(func() { cancel(); <-lp.done })
		return lp
	}
	ended := func(lp *loop, what string) error {
		f.Helper()
		select {
		case err := <-lp.done:
			lp.done <- err // for the cleanup
			return err
		case <-time.After(eventWait):
			f.Fatalf("%s: Lead did not return", what)
			return nil
		}
	}
	loops := map[string]*loop{}
	for _, n := range []string{"a", "b"} {
		lp := start(n, false)
		loops[lp.c.MemberID()] = lp
	}
	evs := runs.waitFor(f, eventWait, "the first leader's work", func(e []run) bool { return len(e) >= 1 })
	first := loops[evs[0].member]
	var second *loop
	for id, lp := range loops {
		if id != evs[0].member {
			second = lp
		}
	}
	// Ending the leader's context ends its work, resigns, and hands over.
	first.cancel()
	if err := ended(first, "the leader's context ended"); err != nil {
		f.Fatalf("Lead returned %v after its context ended, want nil", err)
	}
	if evs[0].ctx.Err() == nil {
		f.Fatal("the work's context is not done after Lead returned")
	}
	evs = runs.waitFor(f, eventWait, "the other candidate's work", func(e []run) bool { return len(e) >= 2 })
	if evs[1].member != second.c.MemberID() {
		f.Fatalf("second run by %q, want %q", evs[1].member, second.c.MemberID())
	}
	// A stand-down ends the work's context; the loop campaigns again and,
	// as the only candidate, runs the work again.
	f.must(second.c.StandDown(f.ctx, g), "stand down")
	evs = runs.waitFor(f, eventWait, "the work again after a stand-down", func(e []run) bool { return len(e) >= 3 })
	f.wantErr(context.Cause(evs[1].ctx), tooz.ErrNotLeader, "the work's context's cause after a stand-down")
	if evs[2].member != second.c.MemberID() || evs[2].ctx.Err() != nil {
		f.Fatalf("third run %+v (done: %v), want a live one by %q", evs[2].member, evs[2].ctx.Err(), second.c.MemberID())
	}
	second.cancel()
	if err := ended(second, "the second leader's context ended"); err != nil {
		f.Fatalf("Lead returned %v after its context ended, want nil", err)
	}
	_, err := f.open(f.name("observer")).Leader(f.ctx, g)
	f.wantErr(err, tooz.ErrNoLeader, "leader after both loops ended")

	// Work that fails while leading ends the loop with its error, resigned.
	failing := start("c", true)
	f.wantErr(ended(failing, "the work failed"), errBoom, "Lead's error after the work failed")
	_, err = failing.c.Leader(f.ctx, g)
	f.wantErr(err, tooz.ErrNoLeader, "leader after the failed work")
}
