// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package checker

import (
	"testing"

	"github.com/toozgo/tooz/faults/history"
)

// shold returns the records of proc holding a permit of semaphore "S" (f
// history.FPermit, 2 permits) or the read/write lock "W" (history.FRLock,
// history.FWLock) from start to end (ms).
func shold(proc, f string, acq int64, tok uint64, start, end int64) []history.Rec {
	op, res, note := history.FAcquireShared, "W", ""
	switch f {
	case history.FPermit:
		op, res, note = history.FAcquirePermit, "S", "permits=2"
	case history.FWLock:
		op = history.FAcquireExcl
	}
	return []history.Rec{
		{T: (start - 1) * ms, Proc: proc, Type: history.Invoke, F: op, Res: res, Acq: acq},
		{T: start * ms, Proc: proc, Type: history.OK, F: op, Res: res, Acq: acq, Token: tok},
		{T: start * ms, Proc: proc, Type: history.EnterShared, F: f, Res: res, Acq: acq, Token: tok, Note: note},
		{T: end * ms, Proc: proc, Type: history.ExitShared, F: f, Res: res, Acq: acq, Token: tok, Note: note},
	}
}

func access(typ, proc string, acq int64, tok uint64, at int64, accepted bool) history.Rec {
	return history.Rec{T: at * ms, Proc: proc, Type: typ, F: typ, Res: "W", Acq: acq, Token: tok, Accepted: accepted}
}

func TestSharedCleanHistoryPasses(t *testing.T) {
	recs := join(
		// Two permits held at once, a third after one went.
		shold("a", history.FPermit, 1, 5, 10, 100), shold("b", history.FPermit, 1, 6, 20, 150), shold("c", history.FPermit, 1, 7, 110, 200),
		// Readers together, then a writer alone, then a reader.
		shold("a", history.FRLock, 2, 10, 10, 100), shold("b", history.FRLock, 2, 11, 20, 90),
		shold("c", history.FWLock, 2, 12, 110, 150), shold("a", history.FRLock, 3, 13, 160, 200),
		[]history.Rec{access(history.Read, "a", 2, 10, 30, true), access(history.Read, "b", 2, 11, 40, true),
			access(history.Write, "c", 2, 12, 120, true), access(history.Read, "a", 3, 13, 170, true)})
	r := Check(recs, cfg(true))
	wantChecks(t, r)
	if r.Sections != 7 || len(r.Overlaps) != 0 {
		t.Errorf("counts: %s", r.Summary())
	}
}

func TestTooManyPermitHolders(t *testing.T) {
	recs := join(shold("a", history.FPermit, 1, 5, 10, 100), shold("b", history.FPermit, 1, 6, 20, 150), shold("c", history.FPermit, 1, 7, 50, 200))
	wantChecks(t, Check(recs, cfg(true)), "shared")
	// Reported, not failed, where the backend is not linearizable...
	r := Check(recs, cfg(false))
	wantChecks(t, r)
	if len(r.Overlaps) != 1 || r.Overlaps[0].Explanation != "UNEXPLAINED" {
		t.Errorf("overlaps: %s", r.Summary())
	}
	// ...unless a holder was cut off from the backend: it must see Lost() first.
	wantChecks(t, Check(join(recs, []history.Rec{nem(CutClient, "a", 30), nem(HealClient, "a", 90)}), cfg(false)), "shared")
	// A paused holder explains it: fencing is what stops it.
	wantChecks(t, Check(join(recs, []history.Rec{nem(PauseClient, "a", 15), nem(ResumeClient, "a", 95)}), cfg(true)))
}

func TestWriterOverlapsReader(t *testing.T) {
	recs := join(shold("a", history.FRLock, 1, 5, 10, 100), shold("b", history.FWLock, 1, 6, 50, 150))
	wantChecks(t, Check(recs, cfg(true)), "shared")
	recs = join(shold("a", history.FWLock, 1, 5, 10, 100), shold("b", history.FRLock, 1, 6, 50, 150))
	wantChecks(t, Check(recs, cfg(true)), "shared")
	recs = join(shold("a", history.FWLock, 1, 5, 10, 100), shold("b", history.FWLock, 1, 6, 50, 150))
	wantChecks(t, Check(recs, cfg(true)), "shared")
}

func TestStaleReadOrWriteAccepted(t *testing.T) {
	base := join(shold("a", history.FWLock, 1, 5, 10, 100), shold("b", history.FRLock, 1, 6, 110, 200))
	// A read below an accepted write's token.
	wantChecks(t, Check(join(base, []history.Rec{access(history.Write, "a", 1, 5, 20, true), access(history.Read, "x", 9, 4, 30, true)}), cfg(true)), "fencing")
	// A write below an accepted read's token (the writer was taken over by readers).
	wantChecks(t, Check(join(base, []history.Rec{access(history.Read, "b", 1, 6, 120, true), access(history.Write, "a", 1, 5, 130, true)}), cfg(true)), "fencing")
	// Refused ones are what fencing is for: counted, not failed.
	r := Check(join(base, []history.Rec{access(history.Read, "b", 1, 6, 120, true), access(history.Write, "a", 1, 5, 130, false)}), cfg(true))
	wantChecks(t, r)
	if r.StaleRejected != 1 {
		t.Errorf("stale rejected: %s", r.Summary())
	}
}

func TestSharedTokensUniqueAndOrdered(t *testing.T) {
	// Two holders with one token, at once (b's acquisition overlaps a's).
	recs := join(shold("a", history.FPermit, 1, 5, 10, 100), shold("b", history.FPermit, 1, 5, 10, 150))
	wantChecks(t, Check(recs, cfg(false)), "fencing")
	// c began after a completed, with a lower token.
	recs = join(shold("a", history.FRLock, 1, 50, 10, 100), shold("c", history.FRLock, 1, 7, 110, 200))
	wantChecks(t, Check(recs, cfg(false)), "fencing")
}
