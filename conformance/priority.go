// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/toozgo/tooz"
)

// priorityTests pin ranked elections: the highest live candidate leads,
// a preempting one takes over from a lower leader, tokens only grow, and
// there are never two leaders.
var priorityTests = []test{
	{"PriorityPreemptionOrder", testPriorityPreemption},
	{"PriorityWithoutPreemption", testPriorityNoPreemption},
	{"PriorityBadInputAndRegistry", testPriorityBadInput},
}

// terms records who was elected, in order, and checks on each election
// that every other leadership it knows of has ended (Lost closed) and that
// the fencing token grew.
type terms struct {
	mu        sync.Mutex
	current   map[string]*tooz.Leadership
	lastToken uint64
	errs      []string
	rec       *recorder[string]
}

func newTerms() *terms {
	return &terms{current: map[string]*tooz.Leadership{}, rec: newRecorder[string]()}
}

func (t *terms) elected(member string, l *tooz.Leadership) {
	t.mu.Lock()
	for id, other := range t.current {
		if id != member && !closed(other.Lost()) {
			t.errs = append(t.errs, fmt.Sprintf("%s elected while %s still led", member, id))
		}
	}
	if tok := l.FencingToken(); tok <= t.lastToken {
		t.errs = append(t.errs, fmt.Sprintf("%s elected with token %d, not above %d", member, tok, t.lastToken))
	} else {
		t.lastToken = tok
	}
	t.current[member] = l
	t.mu.Unlock()
	t.rec.add(member)
}

func (t *terms) check(f *fixture) {
	f.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.errs {
		f.Error(e)
	}
}

// campaignLoop campaigns for g with opts until ctx ends, recording every
// election, and reports a failed campaign on errc.
func campaignLoop(ctx context.Context, c *tooz.Coordinator, g string, t *terms, errc chan<- error, opts ...tooz.CampaignOption) {
	for {
		l, err := c.Campaign(ctx, g, opts...)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, tooz.ErrClosed) {
				errc <- fmt.Errorf("%s campaign: %w", c.MemberID(), err)
			}
			return
		}
		t.elected(c.MemberID(), l)
		select {
		case <-l.Lost():
		case <-ctx.Done():
			return
		}
	}
}

func testPriorityPreemption(f *fixture) {
	g := f.name("g")
	t := newTerms()
	errc := make(chan error, 8)
	ctx, cancel := context.WithCancel(f.ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	run := func(c *tooz.Coordinator, p int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			campaignLoop(ctx, c, g, t, errc, tooz.Priority(p), tooz.Preempt())
		}()
	}
	want := func(what string, seq ...string) {
		f.Helper()
		t.rec.waitFor(f, f.bound+slack+eventWait, what, func(e []string) bool { return len(e) >= len(seq) })
		if got := t.rec.snapshot(); !slices.Equal(got, seq) {
			f.Fatalf("%s: elected in order %v, want %v", what, got, seq)
		}
	}
	c1, c2 := f.open(f.name("p1")), f.open(f.name("p2"))
	c3 := f.openUnmanaged(f.name("p3"))
	obs := f.open(f.name("observer"))
	run(c1, 1)
	want("the only candidate leads", c1.MemberID())
	// 3 arrives and preempts 1; 2 arrives later and waits behind 3.
	run(c3, 3)
	want("3 preempts 1", c1.MemberID(), c3.MemberID())
	seen := newRecorder[[]tooz.Candidate]()
	w, err := obs.WatchCandidates(f.ctx, g, seen.add)
	f.must(err, "watch candidates")
	defer w.Stop()
	run(c2, 2)
	seen.waitFor(f, eventWait, "2 registered", func(e [][]tooz.Candidate) bool {
		return len(e) > 0 && slices.ContainsFunc(e[len(e)-1], func(c tooz.Candidate) bool { return c.Member == c2.MemberID() })
	})
	id, err := obs.Leader(f.ctx, g)
	f.must(err, "leader")
	if id != c3.MemberID() {
		f.Fatalf("Leader() = %q with 2 registered, want 3 (%q)", id, c3.MemberID())
	}
	// 3 dies: 2 leads, never 1.
	f.crash(c3)
	want("2 leads after 3 died", c1.MemberID(), c3.MemberID(), c2.MemberID())
	// 3 returns (same member ID) and preempts 2.
	c3b := f.open(f.name("p3"))
	run(c3b, 3)
	want("3 preempts 2 on its return", c1.MemberID(), c3.MemberID(), c2.MemberID(), c3b.MemberID())
	select {
	case err := <-errc:
		f.Fatal(err)
	default:
	}
	t.check(f)
	w.Stop()
	w.Stop() // harmless
}

func testPriorityNoPreemption(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	c1, c2, c3 := f.open(f.name("p1")), f.open(f.name("p2")), f.open(f.name("p3"))
	obs := f.open(f.name("observer"))
	l1, err := c1.Campaign(ctx, g, tooz.Priority(1))
	f.must(err, "1 campaigns")
	seen := newRecorder[[]tooz.Candidate]()
	w, err := obs.WatchCandidates(ctx, g, seen.add)
	f.must(err, "watch candidates")
	defer w.Stop()
	type win struct {
		l   *tooz.Leadership
		err error
	}
	wins := map[string]chan win{}
	for _, c := range []*tooz.Coordinator{c2, c3} {
		ch := make(chan win, 1)
		wins[c.MemberID()] = ch
		p := 2
		if c == c3 {
			p = 3
		}
		go func() {
			l, err := c.Campaign(ctx, g, tooz.Priority(p))
			ch <- win{l, err}
		}()
	}
	want := []tooz.Candidate{{Member: c3.MemberID(), Priority: 3}, {Member: c2.MemberID(), Priority: 2}, {Member: c1.MemberID(), Priority: 1}}
	seen.waitFor(f, eventWait, "all three registered", func(e [][]tooz.Candidate) bool { return len(e) > 0 && slices.Equal(e[len(e)-1], want) })
	if closed(l1.Lost()) {
		f.Fatal("without Preempt, higher candidates ended the leadership")
	}
	f.must(l1.Resign(ctx), "1 resigns")
	var w3 win
	select {
	case w3 = <-wins[c3.MemberID()]:
		f.must(w3.err, "3's campaign")
	case w2 := <-wins[c2.MemberID()]:
		f.Fatalf("2 was elected (err %v) while 3 was a candidate", w2.err)
	case <-time.After(eventWait):
		f.Fatal("nobody elected after the leader resigned")
	}
	if w3.l.FencingToken() <= l1.FencingToken() {
		f.Fatalf("token %d not above %d", w3.l.FencingToken(), l1.FencingToken())
	}
	f.must(w3.l.Resign(ctx), "3 resigns")
	select {
	case w2 := <-wins[c2.MemberID()]:
		f.must(w2.err, "2's campaign")
		if w2.l.FencingToken() <= w3.l.FencingToken() {
			f.Fatalf("token %d not above %d", w2.l.FencingToken(), w3.l.FencingToken())
		}
		f.must(w2.l.Resign(ctx), "2 resigns")
	case <-time.After(eventWait):
		f.Fatal("2 not elected after 3 resigned")
	}
	seen.waitFor(f, eventWait, "the registry empty", func(e [][]tooz.Candidate) bool { return len(e) > 0 && len(e[len(e)-1]) == 0 })
}

func testPriorityBadInput(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	for _, p := range []int{-1, tooz.MaxPriority + 1} {
		_, err := a.Campaign(ctx, g, tooz.Priority(p))
		f.wantErr(err, tooz.ErrInvalidPriority, fmt.Sprintf("priority %d", p))
	}
	la, err := a.Campaign(ctx, g, tooz.Priority(5))
	f.must(err, "campaign with priority 5")
	// A lower candidate that may not wait is refused at once; so is a
	// higher one while the leader keeps the leadership (no Preempt).
	_, err = b.TryCampaign(ctx, g, tooz.Priority(1))
	f.wantErr(err, tooz.ErrNotAcquired, "TryCampaign below the leader's priority")
	_, err = b.TryCampaign(ctx, g, tooz.Priority(9))
	f.wantErr(err, tooz.ErrNotAcquired, "TryCampaign above the leader's priority, without Preempt")
	// The registry is the library's: no application group shows it.
	gs, err := b.Groups(ctx)
	f.must(err, "groups")
	for _, x := range gs {
		if strings.Contains(x, g) {
			f.Fatalf("Groups() lists %q while a ranked campaign runs", x)
		}
	}
	f.must(la.Resign(ctx), "resign")
}
