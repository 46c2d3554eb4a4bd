// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package checker

import (
	"strings"
	"testing"

	"github.com/toozgo/tooz/faults/history"
)

func lost(proc string, acq, at int64) history.Rec {
	return history.Rec{T: at * ms, Proc: proc, Type: history.Lost, F: history.FLock, Res: "L", Acq: acq}
}

func writeInvoke(proc string, acq int64, tok uint64, at int64) history.Rec {
	return history.Rec{T: at * ms, Proc: proc, Type: history.Invoke, F: history.FWrite, Res: "L", Acq: acq, Token: tok}
}

func TestNodeFaultsExplainNoOverlap(t *testing.T) {
	// The leader node is killed (or cut off) at 50 ms: a keeps holding
	// through the failover, and b enters while a still holds.
	for _, kind := range [][2]string{{KillNode, RestartNode}, {IsolateNode, HealNode}, {QuorumLoss, QuorumBack}} {
		recs := join(hold("a", 1, 5, 10, 4000), hold("b", 1, 6, 3000, 5000), []history.Rec{
			nem(kind[0], "etcd1", 50), nem(kind[1], "etcd1", 2500),
		})
		wantChecks(t, Check(recs, cfg(true)), append([]string{"overlap"}, map[bool][]string{true: {"lost-signal"}}[kind[0] == QuorumLoss]...)...)
		// Counted on a backend not declared linearizable.
		r := Check(recs, cfg(false))
		if len(r.Overlaps) != 1 || r.Overlaps[0].Explanation != "UNEXPLAINED" {
			t.Errorf("%s: want one unexplained overlap: %s", kind[0], r.Summary())
		}
	}
}

func TestHolderKeepsHoldingThroughNodeFault(t *testing.T) {
	// The client fails over to the majority: a holds across a node kill
	// and an isolation longer than the TTL, writes all along, never sees
	// Lost(), and that is right.
	for _, kind := range [][2]string{{KillNode, RestartNode}, {IsolateNode, HealNode}} {
		recs := join(hold("a", 1, 5, 10, 9000), []history.Rec{
			nem(kind[0], "zookeeper2", 50), nem(kind[1], "zookeeper2", 5050),
			writeInvoke("a", 1, 5, 8000), write("a", 1, 5, 8001, true),
		})
		wantChecks(t, Check(recs, cfg(true)))
	}
}

func TestQuorumLossHolderMustSeeLost(t *testing.T) {
	// Quorum lost 50..5050 ms: a never sees Lost() and writes after the
	// quorum is back, as if it had held all along.
	recs := join(hold("a", 1, 5, 10, 9000), []history.Rec{
		nem(QuorumLoss, "cluster", 50), nem(QuorumBack, "cluster", 5050),
		writeInvoke("a", 1, 5, 6000),
	})
	r := Check(recs, cfg(false))
	wantChecks(t, r, "kept-acting", "lost-signal")
	if !strings.Contains(r.Violations[0].Msg, QuorumLoss) {
		t.Errorf("the violation names the fault: %s", r.Summary())
	}
	// Lost() at 0.9 × TTL, section left, b takes the lock once the quorum
	// is back: clean.
	recs = join(hold("a", 1, 5, 10, 1900), hold("b", 1, 6, 5200, 6000), []history.Rec{
		nem(QuorumLoss, "cluster", 50), nem(QuorumBack, "cluster", 5050),
		lost("a", 1, 1850), write("b", 1, 6, 5300, true),
	})
	wantChecks(t, Check(recs, cfg(true)))
	// Lost() only after TTL + slack is too late even without a write.
	recs = join(hold("a", 1, 5, 10, 5000), []history.Rec{
		nem(QuorumLoss, "cluster", 50), nem(QuorumBack, "cluster", 5050),
		lost("a", 1, 4000),
	})
	wantChecks(t, Check(recs, cfg(true)), "lost-signal")
}
