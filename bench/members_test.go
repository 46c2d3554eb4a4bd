// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// benchUpdates times, from a watcher on a coordinator of its own, the
// update events of another coordinator changing its capabilities.
func benchUpdates(t *testing.T, tg *target, tr tier, rtt time.Duration) {
	ctx := context.Background()
	ns, g := unique("ns"), unique("g")
	w := open(t, tg, ns, "watcher")
	m := open(t, tg, ns, "member")
	if err := m.JoinGroupCreate(ctx, g, []byte("0")); err != nil {
		t.Fatal(err)
	}
	updated := make(chan time.Time, tr.events+1)
	wu, err := w.WatchUpdateGroup(ctx, g, func(e tooz.MemberUpdated) { updated <- time.Now() })
	if err != nil {
		t.Fatal(err)
	}
	defer wu.Stop()
	_, after, total := timeEvents(t, tr.events, "update", updated, func(i int) error {
		return m.UpdateCapabilities(ctx, g, []byte(strconv.Itoa(i+1)))
	})
	bar, verdict := within2RTT(after.p50(), rtt)
	n := fmt.Sprintf(" (n=%d)", len(after))
	results.add(tg.name, row{metric: "update → watcher's update event, after the update call returned: p50 / p99" + n,
		ours: ms(after.p50()) + " / " + ms(after.p99()), raw: "no update events (tooz.py: none)", bar: bar, verdict: verdict})
	results.add(tg.name, row{metric: "update call → update event, from the call's start: p50", ours: ms(total.p50())})
}

// within2RTT is the 2 RTT bar for an event's lag d and whether d meets
// it ("–" for both when the round trip is unknown).
func within2RTT(d, rtt time.Duration) (bar, verdict string) {
	if rtt <= 0 {
		return "–", "–"
	}
	return "≤ " + ms(2*rtt) + " (2 RTT)", yes(d <= 2*rtt)
}

// timeEvents makes n changes with do, each followed by waiting for its
// event's time on got, and returns how long each call took, the time from
// its return to the event, and from its start to the event.
func timeEvents(t *testing.T, n int, what string, got <-chan time.Time, do func(i int) error) (call, after, total samples) {
	t.Helper()
	for i := range n {
		t0 := time.Now()
		if err := do(i); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		var at time.Time
		select {
		case at = <-got:
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s event within 30s", what)
		}
		call, after, total = append(call, t1.Sub(t0)), append(after, at.Sub(t1)), append(total, at.Sub(t0))
	}
	if len(after) == 0 || call.p50() <= 0 {
		t.Fatalf("no %s event measured", what)
	}
	return call, after, total
}

// benchRestart crashes a member (Coordinator.Abandon) and at once starts a
// new incarnation with the same member ID, whose JoinGroup waits for the
// old membership to go: time from the crash to the new join returning.
func benchRestart(t *testing.T, tg *target, tr tier, rtt time.Duration) {
	ctx := context.Background()
	ns, g := unique("ns"), unique("g")
	var took samples
	for i := range tr.failovers {
		id := fmt.Sprintf("worker-%d", i)
		old := open(t, tg, ns, id, tooz.WithTimeout(tr.timeout))
		if err := old.JoinGroupCreate(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
		if err := old.Abandon(); err != nil {
			t.Fatal(err)
		}
		crashed := time.Now()
		restarted := open(t, tg, ns, id, tooz.WithTimeout(tr.timeout))
		jctx, cancel := context.WithTimeout(ctx, 4*tr.timeout+10*time.Second)
		err := restarted.JoinGroup(jctx, g, nil)
		cancel()
		if err != nil {
			t.Fatalf("restart with the same ID: %v", err)
		}
		took = append(took, time.Since(crashed))
	}
	bar, verdict := "–", "–"
	if tg.livenessBar != nil && rtt > 0 {
		limit := tg.livenessBar(tr.timeout) + 2*rtt
		bar = "≤ " + ms(limit) + " (timeout + 2 RTT)"
		verdict = yes(took.p50() <= limit)
	}
	results.add(tg.name, row{metric: fmt.Sprintf("crash → restarted member with the same ID joined, timeout %v: p50 / max (n=%d)", tr.timeout, len(took)),
		ours: ms(took.p50()) + " / " + ms(took.q(1)), raw: "fails at once (ErrMemberAlreadyJoined) until the timeout", bar: bar, verdict: verdict})
}

// benchLeaderWatch times, from an observer's WatchLeader on a coordinator
// of its own, each new leader's report after that leader's Campaign
// returned (negative: the observer heard first, counted as 0).
func benchLeaderWatch(t *testing.T, tg *target, tr tier, rtt time.Duration) {
	ctx := context.Background()
	ns, g := unique("ns"), unique("g")
	obs := open(t, tg, ns, "observer")
	cands := []*tooz.Coordinator{open(t, tg, ns, "a"), open(t, tg, ns, "b")}
	type report struct {
		leader string
		at     time.Time
	}
	seen := make(chan report, 2*tr.events+4)
	w, err := obs.WatchLeader(ctx, g, func(e tooz.LeaderChanged) { seen <- report{e.Leader, time.Now()} })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	next := func(want string) time.Time {
		for {
			select {
			case r := <-seen:
				if r.leader == want {
					return r.at
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no report of leader %q within 30s", want)
			}
		}
	}
	next("")
	var after samples
	for i := range tr.events {
		c := cands[i%2]
		l, err := c.Campaign(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		elected := time.Now()
		at := next(c.MemberID())
		after = append(after, max(at.Sub(elected), 0))
		if err := l.Resign(ctx); err != nil {
			t.Fatal(err)
		}
		next("")
	}
	if len(after) == 0 {
		t.Fatal("no leader change measured")
	}
	bar, verdict := within2RTT(after.p50(), rtt)
	results.add(tg.name, row{metric: fmt.Sprintf("leader change → observer's WatchLeader report, after the new leader's Campaign returned: p50 / p99 (n=%d)", len(after)),
		ours: ms(after.p50()) + " / " + ms(after.p99()), raw: "no leader observation (etcd Election.Observe is etcd-only)", bar: bar, verdict: verdict})
}
