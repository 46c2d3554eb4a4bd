// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Command workload is one process of a fault test. It opens a coordinator
// on a backend URL and, until told to stop, loops over three jobs at once,
// recording everything in a history file (see package history):
//
//   - lock: acquire the lock, enter the critical section, write to the
//     fenced register with the lock's fencing token every few tens of
//     milliseconds while the lock is held, exit, release;
//   - lead: campaign for the election, act as leader (fenced writes with
//     the leadership's token), resign after a while;
//   - members: join the group, watch joins and leaves, record the view of
//     the members after every change, and leave and re-join now and then.
//
// SIGUSR1 quiesces the process: the lock and lead loops end (releasing
// what they hold) and the member stays joined, still recording its view.
// SIGTERM closes the coordinator and exits. The test process sends these.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/goleak"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/all"
	"github.com/toozgo/tooz/faults/checker"
	"github.com/toozgo/tooz/faults/history"
	"github.com/toozgo/tooz/internal/driverkit"
)

type config struct {
	url, id, histPath, register     string
	lock, election, group           string
	timeout                         time.Duration
	holdMin, holdMax, writeInterval time.Duration
	churn                           time.Duration
	leakCheck                       bool
	shared                          sharedFlags // shared.go
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", "", "backend URL")
	flag.StringVar(&cfg.id, "id", "", "member ID")
	flag.StringVar(&cfg.histPath, "history", "", "history file")
	flag.StringVar(&cfg.register, "register", "", "fenced register URL")
	flag.StringVar(&cfg.lock, "lock", "L", "lock name")
	flag.StringVar(&cfg.election, "election", "E", "election group")
	flag.StringVar(&cfg.group, "group", "G", "membership group")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Second, "liveness timeout")
	flag.DurationVar(&cfg.holdMin, "hold-min", 500*time.Millisecond, "shortest critical section")
	flag.DurationVar(&cfg.holdMax, "hold-max", 1500*time.Millisecond, "longest critical section")
	flag.DurationVar(&cfg.writeInterval, "write-interval", 50*time.Millisecond, "time between fenced writes")
	flag.DurationVar(&cfg.churn, "churn", 3*time.Second, "mean time between leave+join of the group (0: never)")
	flag.BoolVar(&cfg.leakCheck, "leak-check", true, "look for leaked goroutines after Close")
	flag.StringVar(&cfg.shared.semaphore, "semaphore", "S", "semaphore name (\"\": no permit loop)")
	flag.IntVar(&cfg.shared.permits, "permits", 2, "the semaphore's number of permits")
	flag.StringVar(&cfg.shared.rwlock, "rwlock", "W", "read/write lock name (\"\": no read/write loop)")
	flag.Parse()
	if cfg.url == "" || cfg.id == "" || cfg.histPath == "" || cfg.register == "" {
		fmt.Fprintln(os.Stderr, "workload: -url, -id, -history and -register are required")
		os.Exit(2)
	}
	h, err := history.Create(cfg.histPath, cfg.id)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(2)
	}
	os.Exit(run(cfg, h))
}

type worker struct {
	cfg  config
	h    *history.Writer
	c    *tooz.Coordinator
	http *http.Client
	acq  atomic.Int64

	viewMu sync.Mutex
	view   map[string]bool
}

func run(cfg config, h *history.Writer) int {
	defer h.Close()
	quiesce := make(chan os.Signal, 1)
	term := make(chan os.Signal, 1)
	signal.Notify(quiesce, syscall.SIGUSR1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	// Recorded once the signals are handled: the test waits for it.
	h.Add(history.Rec{Type: history.Process, F: "start", Note: fmt.Sprint(os.Getpid())})
	defer signal.Stop(quiesce)
	defer signal.Stop(term)

	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	w := &worker{cfg: cfg, h: h, http: &http.Client{Transport: tr, Timeout: 2 * time.Second}, view: map[string]bool{}}
	defer tr.CloseIdleConnections()

	var c *tooz.Coordinator
	for {
		// The backend may be down while this process starts (a restart
		// in progress): keep trying until told to stop.
		octx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		c, err = tooz.Open(octx, cfg.url, cfg.id, tooz.WithTimeout(cfg.timeout),
			tooz.WithLogger(slog.New(&rejoinRecorder{Handler: slog.Default().Handler(), h: h})))
		cancel()
		if err == nil {
			break
		}
		h.Add(history.Rec{Type: history.Info, F: "open", Err: err.Error()})
		select {
		case <-term:
			h.Add(history.Rec{Type: history.Process, F: "exit"})
			return 0
		case <-time.After(200 * time.Millisecond): // retry pacing
		}
	}
	w.c = c

	ctx, stopLoops := context.WithCancel(context.Background())
	mctx, stopMembers := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); w.lockLoop(ctx) }()
	go func() { defer wg.Done(); w.leadLoop(ctx) }()
	quiesced := make(chan struct{})
	go func() { defer wg.Done(); w.memberLoop(mctx, quiesced) }()
	w.startShared(ctx, &wg)

	select {
	case <-quiesce:
		h.Add(history.Rec{Type: history.Process, F: "quiesce"})
		stopLoops()
		close(quiesced)
		<-term
	case <-term:
		stopLoops()
	}
	stopMembers()
	wg.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(cctx); err != nil {
		h.Add(history.Rec{Type: history.Info, F: "close", Err: err.Error()})
	}
	tr.CloseIdleConnections()
	if cfg.leakCheck {
		if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
			h.Add(history.Rec{Type: history.Process, F: "leak", Err: err.Error()})
		}
	}
	h.Add(history.Rec{Type: history.Process, F: "exit"})
	return 0
}

// rejoinRecorder passes log records on, and records in the history (as
// checker.Rejoin) each time the coordinator, its session lost, re-joins its
// groups by itself: a join no join invocation asked for, which the
// membership check must know of.
type rejoinRecorder struct {
	slog.Handler
	h *history.Writer
}

// rejoinMsg is what tooz logs (heart.go) just before it re-joins.
const rejoinMsg = "tooz: liveness lost; re-joining groups"

func (r *rejoinRecorder) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Message == rejoinMsg {
		r.h.Add(history.Rec{Type: history.Process, F: checker.Rejoin})
	}
	return r.Handler.Handle(ctx, rec)
}

func (r *rejoinRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &rejoinRecorder{Handler: r.Handler.WithAttrs(as), h: r.h}
}

func (r *rejoinRecorder) WithGroup(name string) slog.Handler {
	return &rejoinRecorder{Handler: r.Handler.WithGroup(name), h: r.h}
}

// outcome maps an operation's error to a record type: Fail when it
// certainly did not take effect, Info when it may have.
func outcome(err error) string {
	switch {
	case errors.Is(err, tooz.ErrNotAcquired), errors.Is(err, tooz.ErrLockNotHeld),
		errors.Is(err, tooz.ErrNotLeader), errors.Is(err, tooz.ErrGroupNotCreated),
		errors.Is(err, tooz.ErrMemberAlreadyJoined), errors.Is(err, tooz.ErrMemberNotJoined),
		errors.Is(err, tooz.ErrClosed):
		return history.Fail
	}
	return history.Info
}

func (w *worker) holdTime() time.Duration {
	return w.cfg.holdMin + rand.N(w.cfg.holdMax-w.cfg.holdMin+1)
}

// section is one critical section: the holder writes to the register with
// its token, about hold long, until lost closes. It returns whether lost
// closed.
func (w *worker) section(ctx context.Context, f, res string, acq int64, tok uint64, lost <-chan struct{}, hold time.Duration) bool {
	w.h.Add(history.Rec{Type: history.Enter, F: f, Res: res, Acq: acq, Token: tok})
	// A number of writes rather than a deadline: a holder frozen between
	// two writes goes on writing when it wakes up, as a real one would,
	// checking Lost() first; the register fences off what slips through.
	writes := max(1, int(hold/w.cfg.writeInterval))
	wasLost := false
	checked := time.Now()
	for i := 0; i < writes && ctx.Err() == nil; i++ {
		if frozen := time.Since(checked); frozen > w.cfg.timeout {
			// This process was frozen (SIGSTOP) after its last check of
			// Lost(), for longer than the TTL: write as a holder paused
			// between its check and its write would, to show that the
			// register fences the stale write off.
			w.write(res, acq, tok, fmt.Sprintf("unchecked: frozen %v between the check of Lost() and the write", frozen.Round(time.Millisecond)))
		}
		select {
		case <-lost:
			wasLost = true
		default:
		}
		if wasLost {
			break
		}
		checked = time.Now()
		w.write(res, acq, tok, "")
		select {
		case <-lost:
		case <-ctx.Done():
		case <-time.After(w.cfg.writeInterval): // the pace of the writes
		}
	}
	if !wasLost {
		select {
		case <-lost:
			wasLost = true
		default:
		}
	}
	note := ""
	if wasLost {
		note = "lost"
	}
	w.h.Add(history.Rec{Type: history.Exit, F: f, Res: res, Acq: acq, Token: tok, Note: note})
	return wasLost
}

// write posts one fenced write to the register.
func (w *worker) write(res string, acq int64, tok uint64, note string) {
	w.fenced(history.FWrite, nil, res, acq, tok, note)
}

// fenced records operation f (a write, or a read) on the fenced register,
// with the extra query values q, and what the register answered.
func (w *worker) fenced(f string, q url.Values, res string, acq int64, tok uint64, note string) {
	base := history.Rec{F: f, Res: res, Acq: acq, Token: tok, Note: note}
	inv := base
	inv.Type = history.Invoke
	w.h.Add(inv)
	if q == nil {
		q = url.Values{}
	}
	q.Set("p", w.cfg.id)
	q.Set("res", res)
	q.Set("acq", strconv.FormatInt(acq, 10))
	q.Set("tok", strconv.FormatUint(tok, 10))
	resp, err := w.http.Post(w.cfg.register+"?"+q.Encode(), "text/plain", nil)
	out := base
	switch {
	case err != nil:
		out.Type, out.Err = history.Info, err.Error()
	case resp.StatusCode == http.StatusOK:
		out.Type, out.Accepted = history.OK, true
	default:
		out.Type, out.Note = history.Fail, "rejected: "+resp.Status
	}
	if resp != nil {
		resp.Body.Close()
	}
	w.h.Add(out)
}

// watchLost records the loss of acquisition acq when lost closes and errf
// reports an error (a release closes lost too, with no error).
func (w *worker) watchLost(f, res string, acq int64, lost <-chan struct{}, errf func() error, done <-chan struct{}) {
	select {
	case <-lost:
		if err := errf(); err != nil {
			w.h.Add(history.Rec{Type: history.Lost, F: f, Res: res, Acq: acq, Err: err.Error()})
		}
	case <-done:
	}
}

// holding is what the workload holds: a *tooz.Lock or a *tooz.Leadership.
type holding interface {
	FencingToken() uint64
	Lost() <-chan struct{}
	Err() error
}

// contention is one thing the workload contends for, over and over.
type contention struct {
	f, end string // history ops: taking (FLock, FCampaign) and giving up (FRelease, FResign)
	res    string
	hold   func() time.Duration
	// take waits for the holding; give gives it up.
	take func(ctx context.Context) (h holding, give func(context.Context) error, err error)
}

func (w *worker) lockLoop(ctx context.Context) {
	res := w.cfg.lock
	w.contend(ctx, contention{f: history.FLock, end: history.FRelease, res: res, hold: w.holdTime,
		take: func(ctx context.Context) (holding, func(context.Context) error, error) {
			l := w.c.Lock(res)
			if err := l.Acquire(ctx); err != nil {
				return nil, nil, err
			}
			return l, l.Release, nil
		}})
}

func (w *worker) leadLoop(ctx context.Context) {
	res := w.cfg.election
	w.contend(ctx, contention{f: history.FCampaign, end: history.FResign, res: res, hold: func() time.Duration { return 2 * w.holdTime() },
		take: func(ctx context.Context) (holding, func(context.Context) error, error) {
			ld, err := w.c.Campaign(ctx, res)
			if err != nil {
				return nil, nil, err
			}
			return ld, ld.Resign, nil
		}})
}

// contend takes c, acts in its critical section (fenced writes) until the
// hold time passes or the holding is lost, gives it up, and starts over,
// recording every step.
func (w *worker) contend(ctx context.Context, c contention) {
	section := history.FLock
	if c.f == history.FCampaign {
		section = history.FLead
	}
	for ctx.Err() == nil {
		acq := w.acq.Add(1)
		w.h.Add(history.Rec{Type: history.Invoke, F: c.f, Res: c.res, Acq: acq})
		tctx, cancel := context.WithTimeout(ctx, 5*w.cfg.timeout)
		h, give, err := c.take(tctx)
		cancel()
		if err != nil {
			w.h.Add(history.Rec{Type: outcome(err), F: c.f, Res: c.res, Acq: acq, Err: err.Error()})
			driverkit.Sleep(ctx, 50*time.Millisecond) // back-off after an error
			continue
		}
		tok := h.FencingToken()
		w.h.Add(history.Rec{Type: history.OK, F: c.f, Res: c.res, Acq: acq, Token: tok})
		done := make(chan struct{})
		go w.watchLost(section, c.res, acq, h.Lost(), h.Err, done)
		lost := w.section(ctx, section, c.res, acq, tok, h.Lost(), c.hold())
		if !lost {
			w.h.Add(history.Rec{Type: history.Invoke, F: c.end, Res: c.res, Acq: acq})
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := give(rctx)
			cancel()
			w.h.Add(opDone(c.end, c.res, acq, err))
		}
		close(done)
		driverkit.Sleep(ctx, rand.N(100*time.Millisecond)) // let another contender in
	}
}

func opDone(f, res string, acq int64, err error) history.Rec {
	r := history.Rec{Type: history.OK, F: f, Res: res, Acq: acq}
	if err != nil {
		r.Type, r.Err = outcome(err), err.Error()
	}
	return r
}

func (w *worker) setView(update func(map[string]bool)) {
	w.viewMu.Lock()
	defer w.viewMu.Unlock()
	before := w.members()
	update(w.view)
	after := w.members()
	if !slices.Equal(before, after) {
		w.h.Add(history.Rec{Type: history.View, Res: w.cfg.group, Members: after, Note: strconv.Itoa(len(after))})
	}
}

func (w *worker) members() []string {
	ms := make([]string, 0, len(w.view))
	for m := range w.view {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return ms
}

func (w *worker) memberLoop(ctx context.Context, quiesced <-chan struct{}) {
	g := w.cfg.group
	wj, err := w.c.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) {
		w.h.Add(history.Rec{Type: history.Event, F: history.FJoin, Res: g, Member: e.Member})
		w.setView(func(v map[string]bool) { v[e.Member] = true })
	})
	if err == nil {
		defer wj.Stop()
	} else {
		w.h.Add(history.Rec{Type: history.Info, F: "watch", Res: g, Err: err.Error()})
	}
	wl, err := w.c.WatchLeaveGroup(ctx, g, func(e tooz.MemberLeft) {
		w.h.Add(history.Rec{Type: history.Event, F: history.FLeave, Res: g, Member: e.Member})
		w.setView(func(v map[string]bool) { delete(v, e.Member) })
	})
	if err == nil {
		defer wl.Stop()
	} else {
		w.h.Add(history.Rec{Type: history.Info, F: "watch", Res: g, Err: err.Error()})
	}
	joined := false
	join := func() {
		w.h.Add(history.Rec{Type: history.Invoke, F: history.FJoin, Res: g})
		jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := w.c.JoinGroupCreate(jctx, g, []byte(w.cfg.id))
		cancel()
		if errors.Is(err, tooz.ErrMemberAlreadyJoined) {
			err = nil
		}
		w.h.Add(opDone(history.FJoin, g, 0, err))
		joined = err == nil
	}
	listed := false
	for ctx.Err() == nil {
		if !joined {
			join()
		}
		if !listed {
			// The watch started empty: seed the view with a listing
			// taken after it, then let events keep it up to date.
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ms, err := w.c.Members(lctx, g)
			cancel()
			if err == nil {
				listed = true
				w.setView(func(v map[string]bool) {
					for _, m := range ms {
						v[m] = true
					}
				})
			}
		}
		if !joined || !listed {
			driverkit.Sleep(ctx, 100*time.Millisecond) // retry pacing
			continue
		}
		select {
		case <-quiesced:
			w.stayJoined(ctx)
			return
		default:
		}
		if w.cfg.churn <= 0 {
			select {
			case <-ctx.Done():
			case <-quiesced:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-quiesced:
			continue
		case <-time.After(w.cfg.churn/2 + rand.N(w.cfg.churn)): // churn pacing
		}
		w.h.Add(history.Rec{Type: history.Invoke, F: history.FLeave, Res: g})
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := w.c.LeaveGroup(lctx, g)
		cancel()
		w.h.Add(opDone(history.FLeave, g, 0, err))
		joined = false
	}
}

// stayJoined makes sure, once quiesced, that this member is in the group:
// a backend that lost its data (Redis without persistence, Consul -dev)
// lost the group too, and the coordinator does not re-create a deleted
// group. It then waits for ctx.
func (w *worker) stayJoined(ctx context.Context) {
	g := w.cfg.group
	for ctx.Err() == nil {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ms, err := w.c.Members(lctx, g)
		cancel()
		if err == nil && slices.Contains(ms, w.cfg.id) {
			break
		}
		w.h.Add(history.Rec{Type: history.Invoke, F: history.FJoin, Res: g, Note: "re-join after quiesce"})
		jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = w.c.JoinGroupCreate(jctx, g, []byte(w.cfg.id))
		cancel()
		if errors.Is(err, tooz.ErrMemberAlreadyJoined) {
			err = nil
		}
		w.h.Add(opDone(history.FJoin, g, 0, err))
		if err != nil {
			driverkit.Sleep(ctx, 200*time.Millisecond) // retry pacing
		}
	}
	<-ctx.Done()
}
