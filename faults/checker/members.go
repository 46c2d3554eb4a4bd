// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package checker

import (
	"github.com/toozgo/tooz/faults/history"
)

// Rejoin is the F of the Process record a workload process adds when its
// coordinator lost its session and re-joins its groups by itself (a join
// that no join invocation of the workload asked for).
const Rejoin = "rejoin"

// checkMembershipOrder checks that no process's view of the group goes back
// in time. Each member's real history is a series of incarnations, each
// begun by a join invocation of the member (or a re-join of its coordinator
// after a lost session, recorded as Rejoin) and ended by a leave, an
// expiry or a kill. An observer may see them late, but in order, each at
// most once:
//
//   - its join and leave events about a member alternate: no second join
//     without a leave between (a re-listing diffed into events must not
//     report a member joined that it already reported joined), no second
//     leave without a join between;
//   - it never sees a member join more often than that member had begun
//     incarnations by then: a member that left (or was killed) and did not
//     join again must not come back, however late the events come;
//   - no view of it holds a member that had never asked to join.
//
// Events an observer saw before its own first join invocation are not
// checked: its join and leave watches start one after the other.
func checkMembershipOrder(r *Report, recs []history.Rec) {
	begun := map[string]int{} // member -> incarnations begun so far
	started := map[string]bool{}
	type pair struct{ obs, member string }
	last := map[pair]string{} // the observer's last event about the member
	joins := map[pair]int{}
	reported := map[pair]bool{}
	for _, rec := range recs {
		switch {
		case rec.Type == history.Invoke && rec.F == history.FJoin:
			begun[rec.Proc]++
			started[rec.Proc] = true
		case rec.Type == history.Process && rec.F == Rejoin:
			begun[rec.Proc]++
		case rec.Type == history.Event && started[rec.Proc]:
			k := pair{rec.Proc, rec.Member}
			if reported[k] {
				continue // one violation per observer and member is enough
			}
			if last[k] == rec.F {
				r.fail("membership", "%s saw %s %s twice at %v, with no %s between", rec.Proc, rec.Member, eventName(rec.F), dur(rec.T), eventName(other(rec.F)))
				reported[k] = true
			}
			last[k] = rec.F
			if rec.F == history.FJoin {
				joins[k]++
				if joins[k] > begun[rec.Member] && !reported[k] {
					r.fail("membership", "%s saw %s join for the %d. time at %v, but %s had begun only %d memberships by then (a member back from the past)",
						rec.Proc, rec.Member, joins[k], dur(rec.T), rec.Member, begun[rec.Member])
					reported[k] = true
				}
			}
		case rec.Type == history.View:
			for _, m := range rec.Members {
				k := pair{rec.Proc, m}
				if begun[m] == 0 && !reported[k] {
					r.fail("membership", "%s's view at %v holds %s, which never asked to join", rec.Proc, dur(rec.T), m)
					reported[k] = true
				}
			}
		}
	}
}

func eventName(f string) string {
	if f == history.FJoin {
		return "join"
	}
	return "leave"
}

func other(f string) string {
	if f == history.FJoin {
		return history.FLeave
	}
	return history.FJoin
}
