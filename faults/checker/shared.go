// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package checker

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/toozgo/tooz/faults/history"
)

// The rules of the semaphore and read/write lock workloads (see the
// workload's shared.go), run by Check:
//
//   - permits: never more than N holders of a semaphore of N permits at
//     once, unless a fault explains the extra holder (the same explanations
//     as a lock's overlap: a frozen holder, a backend outage or lost
//     state); an unexplained excess fails on backends declared
//     linearizable, and on every backend when an extra holder was cut off
//     from the backend or its link slowed down while it held;
//   - rw: an exclusive holder of a read/write lock never overlaps another
//     holder, shared or exclusive, under the same terms;
//   - fencing: every accepted read shows a token at least the highest
//     accepted write's, every accepted write one at least the highest
//     accepted read's (the register enforces it; the check replays it), no
//     two holdings of a name share a token, and an acquisition that began
//     after another one completed got a greater token (tokens follow the
//     queue order).

// permitsOf reads N from a permit section's "permits=N" note (0: unknown).
func permitsOf(recs []history.Rec, s Section) int {
	for _, rec := range recs {
		if rec.Type == history.EnterShared && rec.Proc == s.Proc && rec.Acq == s.Acq {
			n, _ := strconv.Atoi(strings.TrimPrefix(rec.Note, "permits="))
			return n
		}
	}
	return 0
}

// checkShared runs the rules above; it adds the shared sections to the
// report's counts and their overlaps to its list.
func checkShared(r *Report, recs []history.Rec, faults []fault, cfg Config, endOfRun int64) {
	secs := sections(recs, history.EnterShared, history.ExitShared, endOfRun)
	r.Sections += len(secs)
	byRes := map[string][]Section{}
	for _, s := range secs {
		kind := "semaphore"
		if s.F != history.FPermit {
			kind = "rwlock"
		}
		byRes[kind+":"+s.Res] = append(byRes[kind+":"+s.Res], s)
	}
	for res, ss := range byRes {
		sort.Slice(ss, func(i, j int) bool { return ss[i].Start < ss[j].Start })
		for j, b := range ss {
			// The sections b finds in place when it enters.
			var inside []Section
			for _, a := range ss[:j] {
				if a.End > b.Start {
					inside = append(inside, a)
				}
			}
			var conflict []Section
			switch {
			case b.F == history.FPermit:
				if n := permitsOf(recs, b); n > 0 && len(inside) >= n {
					conflict = inside
				}
			case b.F == history.FWLock:
				conflict = inside
			default: // a shared holder: only exclusive ones conflict
				for _, a := range inside {
					if a.F == history.FWLock {
						conflict = append(conflict, a)
					}
				}
			}
			if len(conflict) == 0 {
				continue
			}
			// One explained holder among them explains the excess.
			why, cut := "", false
			for _, a := range conflict {
				if why = explain(a, b, faults, cfg); why != "" {
					break
				}
				cut = cut || cutDuring(a, faults)
			}
			a := conflict[0]
			o := Overlap{Res: res, A: a, B: b, From: b.Start, To: min(a.End, b.End), Explanation: why}
			if why == "" {
				o.Explanation = "UNEXPLAINED"
				if cfg.Linearizable || cut {
					what := fmt.Sprintf("%d other holders", len(inside))
					if b.F == history.FPermit {
						what = fmt.Sprintf("%d holders already (%d permits)", len(inside), permitsOf(recs, b))
					}
					r.fail("shared", "%s: %s#%d (%s, tok %d, from %v) entered with %s, e.g. %s#%d (%s, tok %d, %v..%v), and no fault to explain it",
						res, b.Proc, b.Acq, b.F, b.Token, dur(b.Start), what, a.Proc, a.Acq, a.F, a.Token, dur(a.Start), dur(a.End))
				}
			}
			r.Overlaps = append(r.Overlaps, o)
		}
	}
	checkReadFencing(r, recs)
	checkSharedTokens(r, recs)
}

// checkReadFencing replays the register's reads and writes of each
// read/write lock: an accepted read below the highest accepted write, or
// an accepted write below the highest accepted read, is a fencing failure.
func checkReadFencing(r *Report, recs []history.Rec) {
	maxW, maxR := map[string]uint64{}, map[string]uint64{}
	for _, rec := range recs {
		switch {
		case rec.Type == history.Read && !rec.Accepted:
			r.StaleRejected++
		case rec.Type == history.Read:
			if rec.Token < maxW[rec.Res] {
				r.fail("fencing", "%s: read by %s#%d accepted with token %d below the write token %d", rec.Res, rec.Proc, rec.Acq, rec.Token, maxW[rec.Res])
			}
			maxR[rec.Res] = max(maxR[rec.Res], rec.Token)
		case rec.Type == history.Write && rec.Accepted:
			if rec.Token < maxR[rec.Res] {
				r.fail("fencing", "%s: write by %s#%d accepted with token %d below the read token %d", rec.Res, rec.Proc, rec.Acq, rec.Token, maxR[rec.Res])
			}
			maxW[rec.Res] = max(maxW[rec.Res], rec.Token)
		}
	}
}

// checkSharedTokens: tokens of the semaphore's and the read/write lock's
// holdings are unique per name and follow the order of the acquisitions.
func checkSharedTokens(r *Report, recs []history.Rec) {
	invoked := map[string]int64{}
	type got struct {
		acquisition
		f string
	}
	byRes := map[string][]got{}
	for _, rec := range recs {
		if rec.F != history.FAcquirePermit && rec.F != history.FAcquireShared && rec.F != history.FAcquireExcl {
			continue
		}
		key := fmt.Sprintf("%s/%d", rec.Proc, rec.Acq)
		kind := "semaphore:"
		if rec.F != history.FAcquirePermit {
			kind = "rwlock:"
		}
		switch rec.Type {
		case history.Invoke:
			invoked[key] = rec.T
		case history.OK:
			byRes[kind+rec.Res] = append(byRes[kind+rec.Res], got{acquisition{proc: rec.Proc, acq: rec.Acq, invoke: invoked[key], ok: rec.T, token: rec.Token}, rec.F})
		}
	}
	for res, gs := range byRes {
		seen := map[uint64]got{}
		for _, g := range gs {
			if o, dup := seen[g.token]; dup {
				r.fail("fencing", "%s: %s#%d and %s#%d both got token %d", res, o.proc, o.acq, g.proc, g.acq, g.token)
			}
			seen[g.token] = g
		}
		// gs is in order of ok times; the ones that completed before b
		// was invoked form a prefix.
		byInvoke := append([]got(nil), gs...)
		sort.Slice(byInvoke, func(i, j int) bool { return byInvoke[i].invoke < byInvoke[j].invoke })
		i := 0
		var best got
		for _, b := range byInvoke {
			for i < len(gs) && gs[i].ok < b.invoke {
				if gs[i].token >= best.token {
					best = gs[i]
				}
				i++
			}
			if best.proc != "" && b.token <= best.token {
				r.fail("fencing", "%s: %s#%d got token %d, not above token %d of %s#%d that completed before it began",
					res, b.proc, b.acq, b.token, best.token, best.proc, best.acq)
			}
		}
	}
}
