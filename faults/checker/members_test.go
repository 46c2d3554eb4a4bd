// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package checker

import (
	"testing"

	"github.com/toozgo/tooz/faults/history"
)

func memberOp(typ, f, proc string, at int64) history.Rec {
	return history.Rec{T: at * ms, Proc: proc, Type: typ, F: f, Res: "G"}
}

func seen(obs, f, member string, at int64) history.Rec {
	return history.Rec{T: at * ms, Proc: obs, Type: history.Event, F: f, Res: "G", Member: member}
}

// churn: a and b join; b leaves and joins again; a sees it all.
func churn() []history.Rec {
	return []history.Rec{
		memberOp(history.Invoke, history.FJoin, "a", 1), memberOp(history.OK, history.FJoin, "a", 2),
		seen("a", history.FJoin, "a", 3),
		memberOp(history.Invoke, history.FJoin, "b", 4), memberOp(history.OK, history.FJoin, "b", 5),
		seen("a", history.FJoin, "b", 6),
		memberOp(history.Invoke, history.FLeave, "b", 10), memberOp(history.OK, history.FLeave, "b", 11),
		seen("a", history.FLeave, "b", 12),
		memberOp(history.Invoke, history.FJoin, "b", 20), memberOp(history.OK, history.FJoin, "b", 21),
		seen("a", history.FJoin, "b", 22),
	}
}

func TestMembershipChurnPasses(t *testing.T) {
	wantChecks(t, Check(churn(), cfg(true)))
	// Seen late, after b's second join completed: still in order.
	late := churn()[:8]
	late = append(late, memberOp(history.Invoke, history.FJoin, "b", 20), memberOp(history.OK, history.FJoin, "b", 21),
		seen("a", history.FLeave, "b", 30), seen("a", history.FJoin, "b", 31))
	wantChecks(t, Check(late, cfg(true)))
	// b's session is lost and its coordinator re-joins by itself.
	recs := join(churn(), []history.Rec{
		seen("a", history.FLeave, "b", 40), {T: 41 * ms, Proc: "b", Type: history.Process, F: Rejoin}, seen("a", history.FJoin, "b", 42),
	})
	wantChecks(t, Check(recs, cfg(true)))
}

func TestMemberBackFromThePastFails(t *testing.T) {
	// b left for good, yet a sees it join again (a re-listing that
	// resurrected it, a stale cache).
	recs := join(churn(), []history.Rec{
		memberOp(history.Invoke, history.FLeave, "b", 30), memberOp(history.OK, history.FLeave, "b", 31),
		seen("a", history.FLeave, "b", 32), seen("a", history.FJoin, "b", 40),
	})
	wantChecks(t, Check(recs, cfg(true)), "membership")
	// The same after b was killed and expired.
	recs = join(churn(), []history.Rec{nem(KillClient, "b", 30), seen("a", history.FLeave, "b", 32), seen("a", history.FJoin, "b", 40)})
	wantChecks(t, Check(recs, cfg(true)), "membership")
}

func TestDuplicateMembershipEventFails(t *testing.T) {
	// A re-listing diffed into events reports b joined again, with no
	// leave between (b did re-join meanwhile, so only the order is wrong).
	recs := join(churn()[:6], []history.Rec{
		memberOp(history.Invoke, history.FLeave, "b", 10), memberOp(history.OK, history.FLeave, "b", 11),
		memberOp(history.Invoke, history.FJoin, "b", 20), memberOp(history.OK, history.FJoin, "b", 21),
		seen("a", history.FJoin, "b", 22),
	})
	wantChecks(t, Check(recs, cfg(true)), "membership")
	recs = join(churn(), []history.Rec{seen("a", history.FLeave, "b", 30), seen("a", history.FLeave, "b", 31)})
	wantChecks(t, Check(recs, cfg(true)), "membership")
}

func TestViewWithPhantomMemberFails(t *testing.T) {
	recs := join(churn(), []history.Rec{{T: 50 * ms, Proc: "a", Type: history.View, Res: "G", Members: []string{"a", "b", "zz"}}})
	wantChecks(t, Check(recs, cfg(true)), "membership")
}
