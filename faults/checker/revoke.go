// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package checker

import (
	"fmt"

	"github.com/toozgo/tooz/faults/history"
)

// A RevokeClient fault is a lock or leadership (Rec.Res; empty: the
// process's whole session, every section it holds) revoked out of band, through
// the backend's own API (an operator, a buggy tool): the etcd lease the
// owner key hangs on revoked, the Redis session deleted, the ZooKeeper
// owner znode deleted, the Consul session destroyed. The holder runs on
// and learns of it only from the backend, so the backend may hand the
// resource over before the holder knows: an overlap from the revocation
// until the holder's Lost() (+ slack) is expected, and fenced. What tooz
// promises, and checkRevoked checks:
//
//   - lost-signal: the revoked holder sees Lost() within TTL + slack of the
//     revocation (unless it ended its section before that deadline);
//   - kept-acting: it makes no fenced write after that deadline without
//     Lost() having fired;
//   - takeover: another holder enters within TTL + slack of the revocation;
//   - overlap (in explain): the overlap with the next holder is explained
//     only until the revoked holder's Lost() + slack (without a Lost(),
//     until the deadline), on every backend: the holder was running.

// revokedSection reports whether f revoked section s: s's resource (any
// resource when f revoked the process's whole session: f.res empty) of s's
// process, held when the revocation came.
func revokedSection(s Section, f fault) bool {
	return f.kind == RevokeClient && f.proc == s.Proc && (f.res == "" || f.res == s.Res) &&
		s.Start <= f.start && f.start < s.End && (s.Lost == 0 || s.Lost >= f.start)
}

// revokedBefore reports whether a was revoked before b entered: an overlap
// of a and b that the revocation does not explain then fails the check on
// every backend, since a was running and must have been told.
func revokedBefore(a, b Section, faults []fault) bool {
	for _, f := range faults {
		if revokedSection(a, f) && f.start <= b.Start {
			return true
		}
	}
	return false
}

// explainRevoked explains b's entering while a still held by f's revoking
// a, as long as a ended its section within slack of its Lost() (or, with
// no Lost(), within TTL + slack of the revocation).
func explainRevoked(a, b Section, f fault, cfg Config) string {
	if !revokedSection(a, f) || f.start > b.Start {
		return ""
	}
	limit := f.start + int64(cfg.TTL+cfg.Slack)
	if a.Lost != 0 {
		limit = min(limit, a.Lost) + int64(cfg.Slack)
	}
	if a.End > limit {
		return ""
	}
	lost := "no Lost() before its section ended"
	if a.Lost != 0 {
		lost = fmt.Sprintf("Lost() %v after it", dur(a.Lost-f.start))
	}
	return fmt.Sprintf("%s's %s was revoked out of band at %v; %s (fencing rejects its stale writes)", a.Proc, a.Res, dur(f.start), lost)
}

// checkRevoked checks the revoked holders' Lost() and the takeover after a
// revocation (see RevokeClient above), and lists what was measured in
// Report.Revocations.
func checkRevoked(r *Report, recs []history.Rec, secs []Section, faults []fault, cfg Config) {
	bound := int64(cfg.TTL + cfg.Slack)
	for _, f := range faults {
		if f.kind != RevokeClient {
			continue
		}
		hit := false
		for _, s := range secs {
			if !revokedSection(s, f) {
				continue
			}
			hit = true
			deadline := f.start + bound
			for _, rec := range recs {
				if rec.Type != history.Invoke || rec.F != history.FWrite || rec.Proc != s.Proc || rec.Acq != s.Acq || rec.T <= deadline {
					continue
				}
				if s.Lost == 0 || rec.T < s.Lost {
					r.fail("kept-acting", "%s#%d (%s %s, tok %d) wrote at %v, more than %v after its %s was revoked at %v, without Lost() having fired",
						s.Proc, s.Acq, s.F, s.Res, s.Token, dur(rec.T), dur(bound), s.Res, dur(f.start))
					break
				}
			}
			if s.End > deadline && s.EndHow != "killed" && (s.Lost == 0 || s.Lost > deadline) {
				seen := "never"
				if s.Lost != 0 {
					seen = "only after " + dur(s.Lost-f.start).String()
				}
				r.fail("lost-signal", "%s#%d (%s %s) revoked out of band at %v: Lost() fired %s (bound %v; section ended: %s at %v)",
					s.Proc, s.Acq, s.F, s.Res, dur(f.start), seen, dur(bound), s.EndHow, dur(s.End))
			}
			next := int64(-1)
			var who Section
			for _, o := range secs {
				if o.F == s.F && o.Res == s.Res && (o.Proc != s.Proc || o.Acq != s.Acq) && o.Start >= f.start && (next < 0 || o.Start < next) {
					next, who = o.Start, o
				}
			}
			lost := "none"
			if s.Lost != 0 {
				lost = dur(s.Lost - f.start).String()
			}
			switch {
			case next < 0:
				r.fail("takeover", "%s %s revoked from %s at %v: nobody took over", s.F, s.Res, s.Proc, dur(f.start))
			case next-f.start > bound:
				r.fail("takeover", "%s %s revoked from %s at %v: %s took over only after %v (bound %v)",
					s.F, s.Res, s.Proc, dur(f.start), who.Proc, dur(next-f.start), dur(bound))
			default:
				r.Takeovers = append(r.Takeovers, fmt.Sprintf("%s %s: %s after %s of %s in %v", s.F, s.Res, who.Proc, f.kind, s.Proc, dur(next-f.start)))
			}
			r.Revocations = append(r.Revocations, fmt.Sprintf("%s %s of %s#%d at %v: Lost() after %s, section ended (%s) after %v, next holder %s after %s",
				s.F, s.Res, s.Proc, s.Acq, dur(f.start), lost, s.EndHow, dur(s.End-f.start), who.Proc, nextStr(next, f.start)))
		}
		if !hit {
			what := f.res
			if what == "" {
				what = "session"
			}
			r.Revocations = append(r.Revocations, fmt.Sprintf("%s of %s at %v: it held nothing any more (released meanwhile)", what, f.proc, dur(f.start)))
		}
	}
}

func nextStr(next, from int64) string {
	if next < 0 {
		return "never"
	}
	return dur(next - from).String()
}
