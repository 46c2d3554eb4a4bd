// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/toozgo/tooz"
)

var electionTests = []test{
	{"LeaderBeforeAndAfter", testLeaderBeforeAfter},
	{"ElectionThreeCandidatesOneLeader", testElectionThreeCandidates},
	{"ElectionFailoverAfterCrash", testElectionFailover},
	{"StandDownHandsOver", testStandDown},
	{"CampaignDeadlineIsNotAcquired", testCampaignDeadline},
	{"CloseEndsLeadershipCleanly", testCloseEndsLeadership},
}

func testCloseEndsLeadership(f *fixture) {
	g := f.name("g")
	a, err := f.h.Open(f.ctx, f.T, f.name("a"))
	f.must(err, "open a")
	obs := f.open(f.name("observer"))
	lost := newRecorder[tooz.LeadershipLost]()
	wl, err := a.WatchLeadershipLost(f.ctx, g, lost.add)
	f.must(err, "watch lost")
	defer wl.Stop()
	l, err := a.Campaign(f.ctx, g)
	f.must(err, "campaign")
	f.must(a.Close(f.ctx), "close")
	if !closed(l.Lost()) {
		f.Fatal("Lost() open after Close")
	}
	evs := lost.waitFor(f, eventWait, "LeadershipLost on Close", func(e []tooz.LeadershipLost) bool { return len(e) >= 1 })
	if len(evs) != 1 || evs[0].Err != nil {
		f.Fatalf("Close reported %+v; want one LeadershipLost with a nil Err (a resignation, not a loss)", evs)
	}
	if _, err := obs.Leader(f.ctx, g); !errors.Is(err, tooz.ErrNoLeader) {
		f.Fatalf("after the leader closed, Leader() = %v, want ErrNoLeader at once", err)
	}
}

func testLeaderBeforeAfter(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	a := f.open(f.name("a"))
	obs := f.open(f.name("observer"))
	_, err := obs.Leader(ctx, g)
	f.wantErr(err, tooz.ErrNoLeader, "leader before any campaign")
	f.wantErr(a.StandDown(ctx, g), tooz.ErrNotLeader, "stand down when not leader")
	l, err := a.Campaign(ctx, g)
	f.must(err, "campaign")
	if l.FencingToken() == 0 || closed(l.Lost()) || l.Group() != g {
		f.Fatalf("fresh leadership: token %d lost %v group %q", l.FencingToken(), closed(l.Lost()), l.Group())
	}
	id, err := obs.Leader(ctx, g)
	f.must(err, "leader")
	if id != a.MemberID() {
		f.Fatalf("Leader() = %q, want %q", id, a.MemberID())
	}
	// Campaigning needs no membership, and the election is not a member.
	if gs, err := obs.Groups(ctx); err == nil {
		for _, x := range gs {
			if x == g {
				f.Fatalf("campaigning created group %q", g)
			}
		}
	}
	f.must(l.Resign(ctx), "resign")
	if !closed(l.Lost()) {
		f.Fatal("Lost() open after Resign")
	}
	f.wantErr(l.Resign(ctx), tooz.ErrNotLeader, "resign twice")
	_, err = obs.Leader(ctx, g)
	f.wantErr(err, tooz.ErrNoLeader, "leader after resign")
	// A lock and a group's leadership with the same name are unrelated.
	lk := a.Lock(g)
	f.must(lk.Acquire(ctx), "lock named like the group")
	_, err = obs.Leader(ctx, g)
	f.wantErr(err, tooz.ErrNoLeader, "leader while a same-named lock is held")
	f.must(lk.Release(ctx), "release")
}

// candidate campaigns in a loop, recording leadership in x, and resigns
// each leadership after hold.
func candidate(f *fixture, c *tooz.Coordinator, g string, x *exclusion, terms int, done chan<- error) {
	for range terms {
		l, err := c.Campaign(f.ctx, g)
		if err != nil {
			done <- fmt.Errorf("%s campaign: %w", c.MemberID(), err)
			return
		}
		x.enter(c.MemberID(), l.FencingToken())
		x.exit(c.MemberID())
		if err := l.Resign(f.ctx); err != nil {
			done <- fmt.Errorf("%s resign: %w", c.MemberID(), err)
			return
		}
	}
	done <- nil
}

func testElectionThreeCandidates(f *fixture) {
	g := f.name("g")
	var x exclusion
	const terms = 4
	done := make(chan error, 3)
	for i := range 3 {
		c := f.open(f.name(fmt.Sprintf("cand%d", i)))
		go candidate(f, c, g, &x, terms, done)
	}
	for range 3 {
		if err := <-done; err != nil {
			f.Error(err)
		}
	}
	x.check(f)
	if x.entries != 3*terms {
		f.Fatalf("%d terms, want %d", x.entries, 3*terms)
	}
}

func testElectionFailover(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	a := f.open(f.name("a"))
	obs := f.open(f.name("observer"))
	la, err := a.Campaign(ctx, g)
	f.must(err, "a campaigns")
	t1 := la.FencingToken()
	type win struct {
		l   *tooz.Leadership
		c   *tooz.Coordinator
		err error
	}
	wins := make(chan win, 2)
	var wg sync.WaitGroup
	cctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	for _, n := range []string{"b", "c"} {
		c := f.open(f.name(n))
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := c.Campaign(cctx, g)
			wins <- win{l, c, err}
		}()
	}
	crashed := time.Now()
	f.crash(a)
	limit := f.bound + slack
	var w win
	select {
	case w = <-wins:
		f.must(w.err, "the first successor's campaign")
	case <-time.After(limit):
		f.Fatalf("no new leader %v after the leader crashed (timeout %v)", limit, f.h.Timeout())
	}
	f.Logf("failover took %v (timeout %v)", time.Since(crashed).Round(time.Millisecond), f.h.Timeout())
	if w.l.FencingToken() <= t1 {
		f.Fatalf("new leader's token %d not above the crashed leader's %d", w.l.FencingToken(), t1)
	}
	id, err := obs.Leader(ctx, g)
	f.must(err, "leader after failover")
	if id != w.c.MemberID() {
		f.Fatalf("Leader() = %q, want the new leader %q", id, w.c.MemberID())
	}
	// Only one successor won: the other is still waiting.
	select {
	case w2 := <-wins:
		if w2.err == nil {
			f.Fatalf("two successors elected: %s and %s", w.c.MemberID(), w2.c.MemberID())
		}
	default:
	}
	f.must(w.l.Resign(ctx), "resign")
	select {
	case w2 := <-wins:
		f.must(w2.err, "the second successor's campaign")
		if w2.l.FencingToken() <= w.l.FencingToken() {
			f.Fatal("tokens did not increase across leaders")
		}
	case <-time.After(eventWait):
		f.Fatal("the second successor was not elected after the first resigned")
	}
}

func testStandDown(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	type ev struct {
		member string
		kind   string
	}
	rec := newRecorder[ev]()
	var cs []*tooz.Coordinator
	for _, n := range []string{"a", "b"} {
		c := f.open(f.name(n))
		cs = append(cs, c)
		wl, err := c.WatchLeadershipLost(ctx, g, func(e tooz.LeadershipLost) {
			k := "lost"
			if e.Err != nil {
				k = "lost: " + e.Err.Error()
			}
			rec.add(ev{e.Member, k})
		})
		f.must(err, "watch lost")
		defer wl.Stop()
		we, err := c.WatchElectedAsLeader(ctx, g, func(e tooz.ElectedAsLeader) {
			if e.FencingToken == 0 {
				rec.add(ev{e.Member, "elected with token 0"})
			}
			rec.add(ev{e.Member, "elected"})
		})
		f.must(err, "watch elected (becomes a candidate)")
		defer we.Stop()
	}
	evs := rec.waitFor(f, eventWait, "a first leader", func(e []ev) bool { return len(e) >= 1 })
	first := evs[0].member
	if evs[0].kind != "elected" {
		f.Fatalf("first event %+v", evs[0])
	}
	leader, other := cs[0], cs[1]
	if first != cs[0].MemberID() {
		leader, other = cs[1], cs[0]
	}
	f.wantErr(other.StandDown(ctx, g), tooz.ErrNotLeader, "a non-leader stands down")
	f.must(leader.StandDown(ctx, g), "the leader stands down")
	evs = rec.waitFor(f, eventWait, "the other candidate's election and the old leader's loss", func(e []ev) bool {
		return count(e, ev{other.MemberID(), "elected"}) == 1 && count(e, ev{leader.MemberID(), "lost"}) == 1
	})
	// Each coordinator delivers its own events in order; there is no order
	// between two coordinators' deliveries.
	var mine []ev
	for _, e := range evs {
		if e.member == leader.MemberID() {
			mine = append(mine, e)
		}
	}
	if want := []ev{{leader.MemberID(), "elected"}, {leader.MemberID(), "lost"}}; len(mine) != 2 || mine[0] != want[0] || mine[1] != want[1] {
		f.Fatalf("the old leader's events %+v, want %+v", mine, want)
	}
	id, err := leader.Leader(ctx, g)
	f.must(err, "leader after stand-down")
	if id != other.MemberID() {
		f.Fatalf("Leader() = %q after stand-down, want %q", id, other.MemberID())
	}
}

func testCampaignDeadline(f *fixture) {
	g := f.name("g")
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	la, err := a.Campaign(f.ctx, g)
	f.must(err, "a campaigns")
	ctx, cancel := context.WithTimeout(f.ctx, 300*time.Millisecond)
	defer cancel()
	_, err = b.Campaign(ctx, g)
	if !errors.Is(err, tooz.ErrNotAcquired) {
		f.Fatalf("campaign past its deadline: %v, want ErrNotAcquired", err)
	}
	f.must(la.Resign(f.ctx), "resign")
	// b withdrew: a third candidate is elected at once.
	c := f.open(f.name("c"))
	wctx, wcancel := context.WithTimeout(f.ctx, eventWait)
	defer wcancel()
	lc, err := c.Campaign(wctx, g)
	f.must(err, "c campaigns after b gave up")
	f.must(lc.Resign(f.ctx), "resign c")
}
