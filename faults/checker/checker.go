// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package checker reads the histories of a fault test run and finds the
// safety and liveness violations in them:
//
//   - a fenced write accepted with a token lower than one accepted before,
//     or with the token of another holder (two holders shared a token);
//   - a fencing token that did not increase: an acquisition that began
//     after another one completed got a token no greater than it;
//   - overlapping critical sections (two lock holders, two leaders) that no
//     injected fault explains (a frozen holder or a backend outage does; a
//     holder cut off from the backend does not, since it runs and must see
//     its own deadline pass), on backends declared linearizable (on the
//     others they are counted and reported, except when the older holder
//     was cut off or its link slowed down: tooz's own deadline must
//     prevent that overlap on every backend);
//   - a holder that kept acting (fenced writes) more than TTL + slack after
//     its liveness ended (a pause, a backend outage, a cluster's quorum
//     loss) without its Lost() channel having fired, or that saw Lost()
//     only later than TTL + slack after a quorum loss began;
//   - no takeover within the expiry bound + slack after the holder crashed
//     or was paused;
//   - a lock or leadership revoked out of band (RevokeClient, see
//     revoke.go) whose holder did not see Lost() within TTL + slack, kept
//     writing, overlapped the next holder past its Lost() + slack, or was
//     not taken over from within TTL + slack;
//   - membership views that do not converge on the live processes, or go
//     back in time (members.go);
//   - no progress: the test recorded (Stuck) that a takeover, a new holder
//     after a fault, or converging views did not come within its deadline;
//   - processes that crashed, panicked or leaked goroutines.
//
// Overlaps explained by a fault (a paused holder, a backend that lost its
// state) are expected on lease-based locks: the report lists them with the
// stale writes the register rejected, which is what fencing is for.
package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/toozgo/tooz/faults/history"
)

// Nemesis record names (history.Rec.F of history.Nemesis records).
const (
	PauseClient    = "pause-client"
	ResumeClient   = "resume-client"
	KillClient     = "kill-client"
	StartClient    = "start-client"
	KillBackend    = "kill-backend"
	RestartBackend = "restart-backend" // recorded once the backend serves again
	PauseBackend   = "pause-backend"
	ResumeBackend  = "resume-backend"
	CutClient      = "cut-client" // the client cut off from the backend
	HealClient     = "heal-client"
	SlowClient     = "slow-client" // the client's link to the backend slowed down
	FastClient     = "fast-client" // the end of SlowClient

	// Faults of one node of a replicated backend (a 3-node etcd cluster or
	// ZooKeeper ensemble); Proc is the node's name. A majority keeps
	// serving, so none of them explains an overlap: the leader's leases and
	// sessions survive a leader change (see explain).
	KillNode    = "kill-node"    // SIGKILL of one node
	RestartNode = "restart-node" // recorded once the node serves again
	IsolateNode = "isolate-node" // one node cut off from its peers and clients
	HealNode    = "heal-node"
	// QuorumLoss: a majority of the nodes down or cut off, so the backend
	// serves nobody, like a backend outage (Proc "cluster"); QuorumBack is
	// recorded once they are back.
	QuorumLoss = "quorum-loss"
	QuorumBack = "quorum-back"

	// RevokeClient is a client's lock or leadership (Res) revoked out of
	// band through the backend's own API: instantaneous (see revoke.go).
	RevokeClient = "revoke-client"
)

// Stuck is the F of the Process record the test adds when something it
// waited for (a takeover, progress after a fault, converging views, a
// holder to aim at) did not happen within its deadline.
const Stuck = "stuck"

// Config describes the run being checked.
type Config struct {
	// Linearizable is whether the backend declares tooz.Linearizable:
	// unexplained overlaps are then violations.
	Linearizable bool
	// TTL is the liveness timeout the processes used.
	TTL time.Duration
	// ExpiryBound is the longest time from a crash to the backend freeing
	// what the crashed process held (TTL; 2×TTL on Consul).
	ExpiryBound time.Duration
	// Slack is added to every time bound, for scheduling on a loaded machine.
	Slack time.Duration
	// Live lists the processes alive at the end, whose views of the group
	// must have converged on exactly this set. Nil skips the check.
	Live []string
	// StateLoss says the backend loses its data on restart (Redis without
	// persistence, Consul -dev): the overlap a restart causes is explained.
	StateLoss bool
}

// Violation is one failed check.
type Violation struct {
	Check string
	Msg   string
}

func (v Violation) String() string { return v.Check + ": " + v.Msg }

// Overlap is two critical sections on one resource at once.
type Overlap struct {
	Res         string
	A, B        Section
	From, To    int64 // the overlapping window
	Explanation string
}

// Section is one critical section: a lock holding or a leadership.
type Section struct {
	Proc       string
	F          string // "lock" or "lead"
	Res        string
	Acq        int64
	Token      uint64
	Start, End int64 // End is the exit, the loss record, the process's death, or the end of the run
	EndHow     string
	Lost       int64 // time of the Lost record, or 0
}

// Report is the outcome of Check.
type Report struct {
	Violations []Violation
	// Overlaps lists every overlap, explained or not.
	Overlaps []Overlap
	// Counts of what happened.
	Ops           int // invocations of lock, campaign, release, resign, join, leave and writes
	Sections      int
	Writes        int
	StaleRejected int // writes the register rejected
	Faults        int
	Lost          int // Lost() signals seen
	Events        int // membership events seen
	Takeovers     []string
	Revocations   []string // what each out-of-band revocation led to
}

// OK reports whether no check failed.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

func (r *Report) fail(check, format string, args ...any) {
	r.Violations = append(r.Violations, Violation{Check: check, Msg: fmt.Sprintf(format, args...)})
}

// Summary is a few lines for test logs.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ops=%d sections=%d writes=%d stale-rejected=%d faults=%d lost-signals=%d events=%d overlaps=%d violations=%d",
		r.Ops, r.Sections, r.Writes, r.StaleRejected, r.Faults, r.Lost, r.Events, len(r.Overlaps), len(r.Violations))
	for _, t := range r.Takeovers {
		fmt.Fprintf(&b, "\n  takeover: %s", t)
	}
	for _, v := range r.Revocations {
		fmt.Fprintf(&b, "\n  revocation: %s", v)
	}
	for _, o := range r.Overlaps {
		fmt.Fprintf(&b, "\n  overlap on %s: %s#%d(tok %d) and %s#%d(tok %d) for %v: %s", o.Res,
			o.A.Proc, o.A.Acq, o.A.Token, o.B.Proc, o.B.Acq, o.B.Token, dur(o.To-o.From), o.Explanation)
	}
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "\n  VIOLATION %s", v)
	}
	return b.String()
}

func dur(ns int64) time.Duration { return time.Duration(ns).Round(time.Millisecond) }

// fault is one injected fault with its window.
type fault struct {
	kind       string // PauseClient, KillClient, PauseBackend, KillBackend, CutClient, SlowClient
	proc       string
	start, end int64  // end: resume, restart done, or start for a kill or a revocation
	res        string // for RevokeClient: the resource revoked
}

// Check runs every check over the records of one run (all files, sorted by
// history.Sort).
func Check(recs []history.Rec, cfg Config) *Report {
	r := &Report{}
	if len(recs) == 0 {
		r.fail("history", "no records")
		return r
	}
	// Times are shown from the first record on.
	t0 := recs[0].T
	recs = slices.Clone(recs)
	for i := range recs {
		recs[i].T -= t0
	}
	endOfRun := recs[len(recs)-1].T
	faults := collectFaults(recs, endOfRun)
	r.Faults = len(faults)
	for _, rec := range recs {
		switch rec.Type {
		case history.Invoke:
			r.Ops++
		case history.Lost:
			r.Lost++
		case history.Event:
			r.Events++
		case history.Write:
			r.Writes++
			if !rec.Accepted {
				r.StaleRejected++
			}
		case history.Process:
			switch rec.F {
			case "crash", "panic", "leak":
				r.fail("process", "%s: %s %s %s", rec.Proc, rec.F, rec.Err, rec.Note)
			case Stuck:
				r.fail("progress", "at %v: %s", dur(rec.T), rec.Note)
			}
		}
	}
	checkRegister(r, recs)
	checkTokenOrder(r, recs)
	secs := sections(recs, history.Enter, history.Exit, endOfRun)
	r.Sections = len(secs)
	checkOverlaps(r, secs, faults, cfg)
	checkKeptActing(r, recs, secs, faults, cfg)
	checkTakeover(r, secs, faults, cfg)
	checkRevoked(r, recs, secs, faults, cfg)
	checkShared(r, recs, faults, cfg, endOfRun) // shared.go
	checkMembershipOrder(r, recs)
	if cfg.Live != nil {
		checkViews(r, recs, cfg.Live)
	}
	return r
}

func collectFaults(recs []history.Rec, endOfRun int64) []fault {
	var fs []fault
	open := map[string]int{} // kind+proc -> index of the open fault
	for _, rec := range recs {
		if rec.Type != history.Nemesis {
			continue
		}
		switch rec.F {
		case PauseClient, PauseBackend, KillBackend, CutClient, SlowClient, KillNode, IsolateNode, QuorumLoss:
			open[rec.F+"/"+rec.Proc] = len(fs)
			fs = append(fs, fault{kind: rec.F, proc: rec.Proc, start: rec.T, end: endOfRun})
		case KillClient:
			fs = append(fs, fault{kind: KillClient, proc: rec.Proc, start: rec.T, end: rec.T})
		case RevokeClient:
			fs = append(fs, fault{kind: RevokeClient, proc: rec.Proc, start: rec.T, end: rec.T, res: rec.Res})
		case ResumeClient, ResumeBackend, RestartBackend, HealClient, FastClient, RestartNode, HealNode, QuorumBack:
			from := map[string]string{ResumeClient: PauseClient, ResumeBackend: PauseBackend, RestartBackend: KillBackend, HealClient: CutClient,
				FastClient: SlowClient, RestartNode: KillNode, HealNode: IsolateNode, QuorumBack: QuorumLoss}[rec.F]
			if i, ok := open[from+"/"+rec.Proc]; ok {
				fs[i].end = rec.T
				delete(open, from+"/"+rec.Proc)
			}
		}
	}
	return fs
}

// checkRegister replays the register's writes per resource.
func checkRegister(r *Report, recs []history.Rec) {
	type owner struct {
		proc string
		acq  int64
	}
	max := map[string]uint64{}
	by := map[string]owner{}
	for _, rec := range recs {
		if rec.Type != history.Write || !rec.Accepted {
			continue
		}
		m, seen := max[rec.Res], by[rec.Res]
		switch {
		case rec.Token < m:
			r.fail("fencing", "%s: write by %s#%d accepted with token %d below %d", rec.Res, rec.Proc, rec.Acq, rec.Token, m)
		case rec.Token == m && (seen.proc != rec.Proc || seen.acq != rec.Acq) && m != 0:
			r.fail("fencing", "%s: %s#%d and %s#%d both wrote with token %d", rec.Res, seen.proc, seen.acq, rec.Proc, rec.Acq, m)
		}
		if rec.Token >= m {
			max[rec.Res] = rec.Token
			by[rec.Res] = owner{rec.Proc, rec.Acq}
		}
	}
}

type acquisition struct {
	proc       string
	acq        int64
	invoke, ok int64
	token      uint64
}

// checkTokenOrder: an acquisition invoked after another one completed must
// get a greater token (a backend that lost its counter hands out old ones).
func checkTokenOrder(r *Report, recs []history.Rec) {
	invoked := map[string]int64{}
	byRes := map[string][]acquisition{}
	for _, rec := range recs {
		if rec.F != history.FLock && rec.F != history.FCampaign {
			continue
		}
		key := fmt.Sprintf("%s/%d", rec.Proc, rec.Acq)
		switch rec.Type {
		case history.Invoke:
			invoked[key] = rec.T
		case history.OK:
			byRes[rec.Res] = append(byRes[rec.Res], acquisition{proc: rec.Proc, acq: rec.Acq, invoke: invoked[key], ok: rec.T, token: rec.Token})
		}
	}
	for res, as := range byRes {
		// as is in order of ok times. For each b, the acquisitions that
		// completed before b was invoked form a prefix.
		byInvoke := slices.Clone(as)
		sort.Slice(byInvoke, func(i, j int) bool { return byInvoke[i].invoke < byInvoke[j].invoke })
		i := 0
		var best acquisition
		for _, b := range byInvoke {
			for i < len(as) && as[i].ok < b.invoke {
				if as[i].token >= best.token {
					best = as[i]
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

// sections builds the critical sections bracketed by records of types
// enter and exit (history.Enter/Exit for locks and leaderships,
// history.EnterShared/ExitShared for permits and shared holdings), with
// the lost records and the client kills that end them.
func sections(recs []history.Rec, enter, exit string, endOfRun int64) []Section {
	open := map[string]*Section{}
	var out []*Section
	key := func(rec history.Rec) string { return fmt.Sprintf("%s/%d", rec.Proc, rec.Acq) }
	for _, rec := range recs {
		switch rec.Type {
		case enter:
			s := &Section{Proc: rec.Proc, F: rec.F, Res: rec.Res, Acq: rec.Acq, Token: rec.Token, Start: rec.T, End: -1}
			open[key(rec)] = s
			out = append(out, s)
		case exit:
			if s := open[key(rec)]; s != nil {
				s.End, s.EndHow = rec.T, "exit"
				if rec.Note != "" {
					s.EndHow = "exit (" + rec.Note + ")"
				}
				delete(open, key(rec))
			}
		case history.Lost:
			for _, s := range out {
				if s.Proc == rec.Proc && s.Acq == rec.Acq && s.Lost == 0 {
					s.Lost = rec.T
				}
			}
		case history.Nemesis:
			if rec.F == KillClient {
				for k, s := range open {
					if s.Proc == rec.Proc {
						s.End, s.EndHow = rec.T, "killed"
						delete(open, k)
					}
				}
			}
		}
	}
	for _, s := range open {
		s.End, s.EndHow = endOfRun, "end of run"
	}
	res := make([]Section, len(out))
	for i, s := range out {
		res[i] = *s
	}
	return res
}

func checkOverlaps(r *Report, secs []Section, faults []fault, cfg Config) {
	byRes := map[string][]Section{}
	for _, s := range secs {
		byRes[s.F+":"+s.Res] = append(byRes[s.F+":"+s.Res], s)
	}
	for res, ss := range byRes {
		sort.Slice(ss, func(i, j int) bool { return ss[i].Start < ss[j].Start })
		for i := range ss {
			for j := i + 1; j < len(ss) && ss[j].Start < ss[i].End; j++ {
				a, b := ss[i], ss[j]
				o := Overlap{Res: res, A: a, B: b, From: b.Start, To: min(a.End, b.End)}
				o.Explanation = explain(a, b, faults, cfg)
				r.Overlaps = append(r.Overlaps, o)
				if o.Explanation == "" {
					o.Explanation = "UNEXPLAINED"
					r.Overlaps[len(r.Overlaps)-1] = o
					if cfg.Linearizable || cutDuring(a, faults) || revokedBefore(a, b, faults) {
						r.fail("overlap", "%s: %s#%d (tok %d, %v..%v) and %s#%d (tok %d, from %v) overlap with no fault to explain it",
							res, a.Proc, a.Acq, a.Token, dur(a.Start), dur(a.End), b.Proc, b.Acq, b.Token, dur(b.Start))
					}
				}
			}
		}
	}
}

// cutDuring reports whether a's holder was cut off from the backend, or
// its link to the backend slowed down, while it held a: tooz promises on
// every backend that such a running holder sees Lost() before the backend
// can expire it (its deadline counts from the start of the last successful
// heartbeat, so latency only shortens it), so an overlap then fails the
// check whatever the backend declares.
func cutDuring(a Section, faults []fault) bool {
	for _, f := range faults {
		if (f.kind == CutClient || f.kind == SlowClient) && f.proc == a.Proc && f.start < a.End && f.end > a.Start {
			return true
		}
	}
	return false
}

// explain names the fault that let b in while a still believed it held.
// The faults of a cluster (KillNode, IsolateNode, QuorumLoss) explain
// nothing: leases and sessions live in the replicated state, a new leader
// renews them (etcd's leader extends every lease by its TTL when it takes
// over; ZooKeeper's gives every session a fresh timeout), and a holder
// whose heartbeats cannot get through must see its own deadline pass (as
// when it is cut off) before any of them can expire.
// A client cut off from the backend is no explanation: it runs, so tooz's
// own deadline (0.9 × TTL after its last good heartbeat) must end its
// sections before the backend can expire it.
func explain(a, b Section, faults []fault, cfg Config) string {
	for _, f := range faults {
		switch f.kind {
		case RevokeClient:
			if why := explainRevoked(a, b, f, cfg); why != "" {
				return why
			}
		case PauseClient:
			if f.proc == a.Proc && f.start < b.Start && f.end > a.Start {
				return fmt.Sprintf("%s was paused %v..%v (fencing rejects its stale writes)", a.Proc, dur(f.start), dur(f.end))
			}
		case PauseBackend, KillBackend:
			// The backend's outage can let the holder's liveness lapse on
			// the backend before the holder hears of it; a backend that
			// lost its state forgets the holder at once.
			if f.start < b.Start && f.end+int64(cfg.ExpiryBound+cfg.Slack) > a.Start && f.start < a.End {
				if f.kind == KillBackend && cfg.StateLoss {
					return fmt.Sprintf("the backend was restarted without its data %v..%v", dur(f.start), dur(f.end))
				}
				return fmt.Sprintf("backend fault %s %v..%v", f.kind, dur(f.start), dur(f.end))
			}
		}
	}
	return ""
}

// checkKeptActing: after the holder's liveness ended (the holder or the
// backend frozen, or the backend down, longer than the TTL), the holder
// must see Lost() before it acts again, and at the latest TTL + slack
// after the liveness ended (or after the holder woke up). A cluster's
// QuorumLoss is such an outage: without a majority no heartbeat succeeds
// (etcd cannot renew a lease, ZooKeeper servers without a quorum close
// their client connections), so every holder's own deadline must pass
// within the TTL, and a Lost() later than TTL + slack after the loss began
// fails even without a write. KillNode and IsolateNode of one node leave a
// majority serving and demand nothing here.
func checkKeptActing(r *Report, recs []history.Rec, secs []Section, faults []fault, cfg Config) {
	for _, f := range faults {
		if f.kind == KillClient || f.kind == SlowClient || f.end-f.start <= int64(cfg.TTL) {
			continue // a slow holder may keep its liveness: nothing to lose
		}
		if f.kind == KillNode || f.kind == IsolateNode {
			// A majority still serves: a holder that reaches it (its
			// client fails over to another node) rightly holds on.
			continue
		}
		deadline := f.start + int64(cfg.TTL+cfg.Slack)
		if f.kind == PauseClient {
			deadline = f.end + int64(cfg.Slack)
		}
		for _, s := range secs {
			if (f.kind == PauseClient || f.kind == CutClient) && s.Proc != f.proc {
				continue
			}
			if s.Start >= f.start || s.End <= f.start {
				continue // not held when the fault began
			}
			for _, rec := range recs {
				if rec.Type != history.Invoke || rec.F != history.FWrite || rec.Proc != s.Proc || rec.Acq != s.Acq || rec.T <= deadline {
					continue
				}
				if strings.HasPrefix(rec.Note, "unchecked") {
					continue // the deliberate stale write of a frozen holder
				}
				if s.Lost == 0 || rec.T < s.Lost {
					r.fail("kept-acting", "%s#%d (%s %s, tok %d) wrote at %v, after its liveness ended in %s %v..%v, without Lost() having fired",
						s.Proc, s.Acq, s.F, s.Res, s.Token, dur(rec.T), f.kind, dur(f.start), dur(f.end))
					break
				}
			}
			if s.End > deadline && s.Lost == 0 && s.EndHow != "killed" {
				r.fail("lost-signal", "%s#%d (%s %s) held past %s %v..%v and Lost() never fired (section ended: %s at %v)",
					s.Proc, s.Acq, s.F, s.Res, f.kind, dur(f.start), dur(f.end), s.EndHow, dur(s.End))
			} else if f.kind == QuorumLoss && s.Lost > deadline {
				// The holder ran all along: its deadline was due within
				// the TTL of the loss, not whenever the quorum came back.
				r.fail("lost-signal", "%s#%d (%s %s) saw Lost() only at %v, %v after %s began at %v (bound TTL + slack = %v)",
					s.Proc, s.Acq, s.F, s.Res, dur(s.Lost), dur(s.Lost-f.start), f.kind, dur(f.start), dur(int64(cfg.TTL+cfg.Slack)))
			}
		}
	}
}

// checkTakeover: when the holder crashed (or was paused for longer than the
// expiry bound), another contender must enter within expiry bound + slack.
func checkTakeover(r *Report, secs []Section, faults []fault, cfg Config) {
	bound := int64(cfg.ExpiryBound + cfg.Slack)
	for _, f := range faults {
		if f.kind != KillClient && !((f.kind == PauseClient || f.kind == CutClient) && f.end-f.start > bound) {
			continue
		}
		for _, s := range secs {
			if s.Proc != f.proc || s.Start > f.start || s.End < f.start {
				continue
			}
			if s.EndHow != "killed" && s.Lost != 0 && s.Lost < f.start {
				continue
			}
			next := int64(-1)
			var who Section
			for _, o := range secs {
				if o.F == s.F && o.Res == s.Res && o.Proc != f.proc && o.Start > f.start && (next < 0 || o.Start < next) {
					next, who = o.Start, o
				}
			}
			switch {
			case next < 0:
				r.fail("takeover", "%s %s held by %s when %s hit it at %v: nobody took over", s.F, s.Res, s.Proc, f.kind, dur(f.start))
			case next-f.start > bound:
				r.fail("takeover", "%s %s held by %s when %s hit it at %v: %s took over only after %v (bound %v)",
					s.F, s.Res, s.Proc, f.kind, dur(f.start), who.Proc, dur(next-f.start), dur(bound))
			default:
				r.Takeovers = append(r.Takeovers, fmt.Sprintf("%s %s: %s after %s of %s in %v", s.F, s.Res, who.Proc, f.kind, s.Proc, dur(next-f.start)))
			}
		}
	}
}

// ViewsChecked is the F of the Process record the test adds once the
// views converged (or it gave up waiting): the membership check looks at
// the views as they were then, before the processes began to close.
const ViewsChecked = "views-checked"

// FinalViews returns each process's last recorded view of the group, up to
// the ViewsChecked record if there is one.
func FinalViews(recs []history.Rec) map[string][]string {
	views := map[string][]string{}
	for _, rec := range recs {
		if rec.Type == history.Process && rec.F == ViewsChecked {
			break
		}
		if rec.Type == history.View {
			views[rec.Proc] = rec.Members
		}
	}
	return views
}

// Converged reports whether every live process's last view is exactly live.
func Converged(recs []history.Rec, live []string) bool {
	views := FinalViews(recs)
	want := slices.Clone(live)
	sort.Strings(want)
	for _, p := range live {
		if !slices.Equal(views[p], want) {
			return false
		}
	}
	return true
}

func checkViews(r *Report, recs []history.Rec, live []string) {
	views := FinalViews(recs)
	want := slices.Clone(live)
	sort.Strings(want)
	for _, p := range want {
		if !slices.Equal(views[p], want) {
			r.fail("membership", "%s's view never converged: last view %v, live processes %v", p, views[p], want)
		}
	}
}
