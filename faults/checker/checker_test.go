// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package checker

import (
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz/faults/history"
)

const ms = int64(time.Millisecond)

func cfg(linear bool) Config {
	return Config{Linearizable: linear, TTL: 2 * time.Second, ExpiryBound: 2 * time.Second, Slack: time.Second}
}

// hold returns the records of proc holding the lock from start to end (ms).
func hold(proc string, acq int64, tok uint64, start, end int64) []history.Rec {
	return []history.Rec{
		{T: (start - 1) * ms, Proc: proc, Type: history.Invoke, F: history.FLock, Res: "L", Acq: acq},
		{T: start * ms, Proc: proc, Type: history.OK, F: history.FLock, Res: "L", Acq: acq, Token: tok},
		{T: start * ms, Proc: proc, Type: history.Enter, F: history.FLock, Res: "L", Acq: acq, Token: tok},
		{T: end * ms, Proc: proc, Type: history.Exit, F: history.FLock, Res: "L", Acq: acq, Token: tok},
	}
}

func write(proc string, acq int64, tok uint64, at int64, accepted bool) history.Rec {
	return history.Rec{T: at * ms, Proc: proc, Type: history.Write, F: history.FWrite, Res: "L", Acq: acq, Token: tok, Accepted: accepted}
}

func nem(f, proc string, at int64) history.Rec {
	return history.Rec{T: at * ms, Proc: proc, Type: history.Nemesis, F: f}
}

func join(parts ...[]history.Rec) []history.Rec {
	var all []history.Rec
	for _, p := range parts {
		all = append(all, p...)
	}
	history.Sort(all)
	return all
}

func wantChecks(t *testing.T, r *Report, checks ...string) {
	t.Helper()
	var got []string
	for _, v := range r.Violations {
		got = append(got, v.Check)
	}
	if strings.Join(got, ",") != strings.Join(checks, ",") {
		t.Errorf("violations %q, want checks %q\n%s", got, checks, r.Summary())
	}
}

func TestCleanHistoryPasses(t *testing.T) {
	recs := join(hold("a", 1, 5, 10, 100), hold("b", 1, 6, 110, 200),
		[]history.Rec{write("a", 1, 5, 20, true), write("b", 1, 6, 120, true)})
	r := Check(recs, cfg(true))
	wantChecks(t, r)
	if r.Sections != 2 || r.Writes != 2 || len(r.Overlaps) != 0 {
		t.Errorf("counts: %s", r.Summary())
	}
}

func TestSharedTokenFails(t *testing.T) {
	recs := join(hold("a", 1, 5, 10, 100), hold("b", 1, 6, 110, 200),
		[]history.Rec{write("a", 1, 5, 20, true), write("b", 1, 5, 120, true)})
	wantChecks(t, Check(recs, cfg(true)), "fencing")
}

func TestTokenGoingBackFails(t *testing.T) {
	// b began after a completed, yet got a lower token (a lost counter).
	recs := join(hold("a", 1, 50, 10, 100), hold("b", 1, 7, 110, 200))
	wantChecks(t, Check(recs, cfg(false)), "fencing")
}

func TestUnexplainedOverlap(t *testing.T) {
	recs := join(hold("a", 1, 5, 10, 150), hold("b", 1, 6, 100, 200))
	wantChecks(t, Check(recs, cfg(true)), "overlap")
	// Reported, not failed, on a backend not declared linearizable.
	r := Check(recs, cfg(false))
	wantChecks(t, r)
	if len(r.Overlaps) != 1 || r.Overlaps[0].Explanation != "UNEXPLAINED" {
		t.Errorf("overlaps: %s", r.Summary())
	}
}

func TestPausedHolderOverlapIsExplained(t *testing.T) {
	// a is frozen 50..5050 ms; b takes over at 2100; a wakes, notices the
	// loss at once, and its stale write is rejected.
	recs := join(hold("a", 1, 5, 10, 5060), hold("b", 1, 6, 2100, 5200), []history.Rec{
		nem(PauseClient, "a", 50), nem(ResumeClient, "a", 5050),
		{T: 5055 * ms, Proc: "a", Type: history.Lost, F: history.FLock, Res: "L", Acq: 1},
		write("b", 1, 6, 2200, true), write("a", 1, 5, 5052, false),
	})
	r := Check(recs, cfg(true))
	wantChecks(t, r)
	if len(r.Overlaps) != 1 || !strings.Contains(r.Overlaps[0].Explanation, "paused") || r.StaleRejected != 1 {
		t.Errorf("want one overlap explained by the pause and one stale write: %s", r.Summary())
	}
	if len(r.Takeovers) != 1 {
		t.Errorf("want the takeover reported: %s", r.Summary())
	}
}

func TestHolderThatKeepsActingFails(t *testing.T) {
	// a is frozen past the TTL and keeps writing long after it woke up,
	// never told by Lost().
	recs := join(hold("a", 1, 5, 10, 9000), hold("b", 1, 6, 2100, 2200), []history.Rec{
		nem(PauseClient, "a", 50), nem(ResumeClient, "a", 5050),
		{T: 8000 * ms, Proc: "a", Type: history.Invoke, F: history.FWrite, Res: "L", Acq: 1, Token: 5},
	})
	wantChecks(t, Check(recs, cfg(true)), "kept-acting", "lost-signal")
}

func TestNoTakeoverAfterCrashFails(t *testing.T) {
	recs := join(hold("a", 1, 5, 10, 100), hold("b", 1, 6, 5000, 5100), []history.Rec{nem(KillClient, "a", 50)})
	wantChecks(t, Check(recs, cfg(true)), "takeover")
	recs = join(hold("a", 1, 5, 10, 100), hold("b", 1, 6, 2500, 2600), []history.Rec{nem(KillClient, "a", 50)})
	wantChecks(t, Check(recs, cfg(true)))
}

func TestViews(t *testing.T) {
	view := func(p string, at int64, ms ...string) history.Rec {
		return history.Rec{T: at, Proc: p, Type: history.View, Members: ms}
	}
	recs := []history.Rec{memberOp(history.Invoke, history.FJoin, "a", 0), memberOp(history.Invoke, history.FJoin, "b", 0),
		view("a", 1, "a"), view("b", 2, "a", "b"), view("a", 3, "a", "b"),
		{T: 4, Proc: "test", Type: history.Process, F: ViewsChecked}, view("a", 5, "a")}
	c := cfg(true)
	c.Live = []string{"b", "a"}
	if !Converged(recs, c.Live) {
		t.Error("views up to the check converged")
	}
	wantChecks(t, Check(recs, c))
	c.Live = []string{"a", "b", "c"}
	wantChecks(t, Check(recs, c), "membership", "membership", "membership")
}

func TestCrashedProcessFails(t *testing.T) {
	recs := []history.Rec{{T: 1, Proc: "a", Type: history.Process, F: "panic", Note: "panic: boom"}}
	wantChecks(t, Check(recs, cfg(true)), "process")
}

func TestStuckFails(t *testing.T) {
	recs := []history.Rec{{T: 1, Proc: "test", Type: history.Process, F: Stuck, Note: "no takeover"}}
	wantChecks(t, Check(recs, cfg(true)), "progress")
}

func TestCutOffHolderMustNotOverlap(t *testing.T) {
	// a is cut off from the backend at 50 ms but never sees Lost(): b
	// takes over at 2100 while a still writes.
	recs := join(hold("a", 1, 5, 10, 2500), hold("b", 1, 6, 2100, 2600), []history.Rec{
		nem(CutClient, "a", 50), nem(HealClient, "a", 6000),
	})
	wantChecks(t, Check(recs, cfg(true)), "overlap")
	wantChecks(t, Check(recs, cfg(false)), "overlap") // whatever the backend declares
	// Seeing Lost() at 0.9 × TTL and stopping is right.
	recs = join(hold("a", 1, 5, 10, 1851), hold("b", 1, 6, 2100, 2600), []history.Rec{
		nem(CutClient, "a", 50), nem(HealClient, "a", 6000),
		{T: 1850 * ms, Proc: "a", Type: history.Lost, F: history.FLock, Res: "L", Acq: 1},
	})
	wantChecks(t, Check(recs, cfg(true)))
}

func TestSlowLinkHolderMustNotOverlap(t *testing.T) {
	// a's link is slowed at 50 ms; it keeps holding until 2500 ms while b
	// takes over at 2100: the overlap fails on every backend.
	recs := join(hold("a", 1, 5, 10, 2500), hold("b", 1, 6, 2100, 2600), []history.Rec{
		nem(SlowClient, "a", 50), nem(FastClient, "a", 4000),
	})
	wantChecks(t, Check(recs, cfg(true)), "overlap")
	wantChecks(t, Check(recs, cfg(false)), "overlap")
	// The same overlap after the link is fast again is only reported on a
	// backend that is not linearizable.
	recs = join(hold("a", 1, 5, 4100, 6500), hold("b", 1, 6, 6100, 6600), []history.Rec{
		nem(SlowClient, "a", 50), nem(FastClient, "a", 4000),
	})
	wantChecks(t, Check(recs, cfg(false)))
	// A slow holder that keeps its lock through the slow period (no
	// Lost(), no takeover) is fine: nothing expired.
	recs = join(hold("a", 1, 5, 10, 7000), hold("b", 1, 6, 7100, 7600), []history.Rec{
		nem(SlowClient, "a", 50), nem(FastClient, "a", 6000),
		{T: 6500 * ms, Proc: "a", Type: history.Invoke, F: history.FWrite, Res: "L", Acq: 1, Token: 5},
	})
	wantChecks(t, Check(recs, cfg(true)))
	// Losing the lock to the latency and stopping before b enters is right.
	recs = join(hold("a", 1, 5, 10, 1801), hold("b", 1, 6, 2100, 2600), []history.Rec{
		nem(SlowClient, "a", 50), nem(FastClient, "a", 6000),
		{T: 1800 * ms, Proc: "a", Type: history.Lost, F: history.FLock, Res: "L", Acq: 1},
	})
	wantChecks(t, Check(recs, cfg(true)))
}

func TestRejectCutIsACut(t *testing.T) {
	// The reject flavour of a cut (fast errors instead of silence) is the
	// same CutClient fault: an overlap fails whatever the backend declares.
	cut := history.Rec{T: 50 * ms, Proc: "a", Type: history.Nemesis, F: CutClient, Note: "reject lock L"}
	recs := join(hold("a", 1, 5, 10, 2500), hold("b", 1, 6, 2100, 2600), []history.Rec{cut, nem(HealClient, "a", 6000)})
	wantChecks(t, Check(recs, cfg(false)), "overlap")
}
