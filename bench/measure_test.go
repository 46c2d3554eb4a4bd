// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// bar is b, or "–" where the raw recipe is no round trip.
func bar(tg *target, b string) string {
	if tg.local {
		return "– (raw is no round trip)"
	}
	return b
}

func verdict(tg *target, ok bool) string {
	if tg.local {
		return "–"
	}
	return yes(ok)
}

// ourLocker adapts a tooz.Lock to locker.
func ourLocker(l *tooz.Lock) locker {
	return lockFuncs{lock: l.Acquire, unlock: l.Release}
}

// benchCycle interleaves, in shuffled order, uncontended lock cycles of
// tooz, of the driver alone and of the raw recipe, and raw round trips,
// and returns the raw round trip's p50 (the RTT the other bars are stated
// in).
func benchCycle(t *testing.T, tg *target, tr tier) time.Duration {
	ctx := context.Background()
	c := open(t, tg, unique("ns"), "cycle")
	ours := ourLocker(c.Lock(unique("lock")))
	raw := tg.rawLocker(t, tg.addr, unique("rawlock"))
	// The driver alone, without the Coordinator's bookkeeping.
	drv := c.Driver()
	res := tooz.Resource{Kind: tooz.KindLock, Name: unique("driver")}
	var own tooz.Ownership
	driver := lockFuncs{
		lock: func(ctx context.Context) (err error) {
			own, err = drv.Acquire(ctx, res, true)
			return err
		},
		unlock: func(ctx context.Context) error { return own.Release(ctx) },
	}
	cycle := func(l locker) (time.Duration, error) {
		start := time.Now()
		if err := l.Lock(ctx); err != nil {
			return 0, err
		}
		err := l.Unlock(ctx)
		return time.Since(start), err
	}
	floor := func() (time.Duration, error) {
		start := time.Now()
		err := tg.floor(ctx)
		return time.Since(start), err
	}
	kinds := []struct {
		name string
		run  func() (time.Duration, error)
		got  samples
	}{
		{name: "tooz cycle", run: func() (time.Duration, error) { return cycle(ours) }},
		{name: "raw cycle", run: func() (time.Duration, error) { return cycle(raw) }},
		{name: "driver cycle", run: func() (time.Duration, error) { return cycle(driver) }},
		{name: "raw round trip", run: floor},
	}
	if tg.floor == nil {
		kinds = kinds[:3]
	}
	warm := tr.cycles/10 + 1
	for i := range tr.cycles + warm {
		// Each kind runs twice in a row and the second run is measured:
		// it pays the asynchronous tail of one run of its own kind (the
		// watch event of its own release, say), as in a loop of that
		// kind alone, and none of another kind's. The kinds come in a
		// shuffled order, so that drift hits them alike.
		for _, k := range rand.Perm(len(kinds)) {
			for rep := range 2 {
				d, err := kinds[k].run()
				if err != nil {
					t.Fatalf("%s: %v", kinds[k].name, err)
				}
				if rep == 1 && i >= warm {
					kinds[k].got = append(kinds[k].got, d)
				}
			}
		}
	}
	o, r, dv := kinds[0].got, kinds[1].got, kinds[2].got
	var f samples
	if len(kinds) > 3 {
		f = kinds[3].got
	}
	if len(o) == 0 || len(r) == 0 || o.p50() <= 0 || r.p50() <= 0 {
		t.Fatalf("no lock cycle measured: %d tooz, %d raw", len(o), len(r))
	}
	n := fmt.Sprintf(" (n=%d)", len(o))
	if tg.floor != nil {
		results.add(tg.name, row{metric: "floor: one raw round trip, p50 / p99", raw: fmt.Sprintf("%s: %s / %s", tg.floorName, ms(f.p50()), ms(f.p99()))})
	}
	rp := float64(o.p50()) / float64(r.p50())
	results.add(tg.name, row{metric: "lock cycle, uncontended, p50" + n, ours: ms(o.p50()), raw: tg.rawName + ": " + ms(r.p50()),
		ratio: ratio(float64(o.p50()), float64(r.p50())), bar: bar(tg, "≤ 1.05×"), verdict: verdict(tg, rp <= 1.05)})
	results.add(tg.name, row{metric: "lock cycle, uncontended, p99", ours: ms(o.p99()), raw: ms(r.p99()), ratio: ratio(float64(o.p99()), float64(r.p99()))})
	results.add(tg.name, row{metric: "… the driver alone (no Coordinator), p50", ours: ms(dv.p50()), raw: ms(r.p50()), ratio: ratio(float64(dv.p50()), float64(r.p50()))})
	if tg.floor != nil && f.p50() > 0 {
		results.add(tg.name, row{metric: "lock cycle p50 in raw round trips", ours: fmt.Sprintf("%.1f RTT", float64(o.p50())/float64(f.p50())), raw: fmt.Sprintf("%.1f RTT", float64(r.p50())/float64(f.p50()))})
	}
	return f.p50()
}

// contention is the outcome of one run of workers contending.
type contention struct {
	acquired int
	elapsed  time.Duration
	handover samples // release started -> next holder's acquire returned (one name)
	switches int     // acquisitions by another worker than the previous holder
	counts   []int   // acquisitions per worker
}

func (c *contention) merge(o contention) {
	c.acquired += o.acquired
	c.elapsed += o.elapsed
	c.handover = append(c.handover, o.handover...)
	c.switches += o.switches
	if c.counts == nil {
		c.counts = make([]int, len(o.counts))
	}
	for i, n := range o.counts {
		c.counts[i] += n
	}
}

func (c contention) rate() float64 { return float64(c.acquired) / c.elapsed.Seconds() }

func (c contention) fairness() string {
	lo, hi := c.counts[0], c.counts[0]
	for _, n := range c.counts {
		lo, hi = min(lo, n), max(hi, n)
	}
	return fmt.Sprintf("%d / %d", lo, hi)
}

// contend has every locker take and give back its lock for d, each on its
// own goroutine. When d is over, each worker stops after its next
// acquisition (not counted), so that nobody is left waiting.
func contend(t *testing.T, ls []locker, d time.Duration, oneName bool) contention {
	var (
		last  time.Time
		lastW = -1
		res   = contention{counts: make([]int, len(ls))}
	)
	res.elapsed = runWorkers(t, ls, d, func(i int, now time.Time, stopped bool) {
		if stopped {
			return
		}
		res.counts[i]++
		res.acquired++
		if oneName {
			if !last.IsZero() && lastW != i {
				// A hand-over to another worker; a worker taking
				// the lock straight back is not one.
				res.handover = append(res.handover, now.Sub(last))
				res.switches++
			}
			lastW = i
			last = time.Now()
		}
	}, nil)
	return res
}

// runWorkers has every locker take and give back its lock until d is
// over, each on its own goroutine, and returns how long they ran. Under
// one mutex it calls acquired after each acquisition (returned at now;
// stopped once d is over) and, if set, releasing just before each release.
// Once d is over each worker stops after its next acquisition, so that
// nobody is left waiting.
func runWorkers(t *testing.T, ls []locker, d time.Duration, acquired func(i int, now time.Time, stopped bool), releasing func(stopped bool)) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	var (
		stop    atomic.Bool
		mu      sync.Mutex
		elapsed time.Duration
		wg      sync.WaitGroup
		errs    = make(chan error, len(ls))
		started = time.Now()
	)
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := l.Lock(ctx); err != nil {
					errs <- fmt.Errorf("worker %d acquire: %w", i, err)
					return
				}
				now := time.Now()
				mu.Lock()
				stopped := stop.Load() // set under mu only
				acquired(i, now, stopped)
				if releasing != nil {
					releasing(stopped)
				}
				mu.Unlock()
				if err := l.Unlock(ctx); err != nil {
					errs <- fmt.Errorf("worker %d release: %w", i, err)
					return
				}
				if stopped {
					return
				}
			}
		}()
	}
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case err := <-errs:
		t.Fatal(err)
	}
	mu.Lock()
	stop.Store(true)
	elapsed = time.Since(started)
	mu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return elapsed
}

// benchContended runs workers on coordinators (and raw clients) of their
// own, on one lock name (names == 1) or each on its own name, alternating
// tooz and raw rounds.
func benchContended(t *testing.T, tg *target, tr tier, workers, names int) {
	ns, base := unique("ns"), unique("lock")
	ours := make([]locker, workers)
	raw := make([]locker, workers)
	for i := range workers {
		name := base
		if names > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		ours[i] = ourLocker(open(t, tg, ns, fmt.Sprintf("w%d", i)).Lock(name))
		raw[i] = tg.rawLocker(t, tg.addr, name)
	}
	var o, r contention
	for range tr.rounds {
		o.merge(contend(t, ours, tr.contendFor, names == 1))
		r.merge(contend(t, raw, tr.contendFor, names == 1))
	}
	if names == 1 && tg.proto != "" {
		defer herd(t, tg, tr, workers)
	}
	if o.acquired == 0 || r.acquired == 0 {
		t.Fatalf("nothing acquired: %d tooz, %d raw", o.acquired, r.acquired)
	}
	what := fmt.Sprintf("%d workers, 1 lock", workers)
	if names > 1 {
		what = fmt.Sprintf("%d workers, %d locks", workers, names)
	}
	if names > 1 {
		results.add(tg.name, row{metric: what + ": acquisitions/s (higher is better)", ours: fmt.Sprintf("%.0f", o.rate()), raw: fmt.Sprintf("%.0f", r.rate()), ratio: ratio(o.rate(), r.rate()),
			bar: bar(tg, "≥ 1.0×"), verdict: verdict(tg, o.rate() >= r.rate())})
		return
	}
	results.add(tg.name, row{metric: what + ": acquisitions/s (higher is better)", ours: fmt.Sprintf("%.0f", o.rate()), raw: fmt.Sprintf("%.0f", r.rate()), ratio: ratio(o.rate(), r.rate())})
	hp := float64(o.handover.p50()) / float64(r.handover.p50())
	results.add(tg.name, row{metric: what + ": hand-over to another worker, p50 (release → next holder)",
		ours: fmt.Sprintf("%s (n=%d)", ms(o.handover.p50()), len(o.handover)), raw: fmt.Sprintf("%s (n=%d)", ms(r.handover.p50()), len(r.handover)),
		ratio: ratio(float64(o.handover.p50()), float64(r.handover.p50())), bar: bar(tg, "≤ 1.2×"), verdict: verdict(tg, hp <= 1.2)})
	results.add(tg.name, row{metric: what + ": hand-over p99; mean", ours: ms(o.handover.p99()) + "; " + ms(o.handover.mean()), raw: ms(r.handover.p99()) + "; " + ms(r.handover.mean()), ratio: ratio(float64(o.handover.p99()), float64(r.handover.p99()))})
	share := func(c contention) string {
		if c.acquired < 2 {
			return "–"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(c.switches)/float64(c.acquired-1))
	}
	results.add(tg.name, row{metric: what + ": fairness, min / max acquisitions per worker; share passed to another worker", ours: o.fairness() + "; " + share(o), raw: r.fairness() + "; " + share(r)})
}

// herd runs one more round of workers on one lock name, tooz's and the raw
// recipe's, each through a proxy counting requests, and reports requests
// per acquisition: with one waiter woken per release it stays flat from 8
// to 32 workers, with a herd it grows with the number of waiters.
func herd(t *testing.T, tg *target, tr tier, workers int) {
	name := unique("herd")
	po := startProxy(t, tg.addr, tg.proto)
	pr := startProxy(t, tg.addr, tg.proto)
	pt := *tg
	pt.url = tg.urlAt(po.addr)
	ours := make([]locker, workers)
	raw := make([]locker, workers)
	ns := unique("ns")
	for i := range workers {
		ours[i] = ourLocker(open(t, &pt, ns, fmt.Sprintf("w%d", i)).Lock(name))
		raw[i] = tg.rawLocker(t, pr.addr, name)
	}
	per := func(p *countingProxy, ls []locker) float64 {
		p.reset()
		c := contend(t, ls, tr.contendFor/2, true)
		n := p.requests.Load()
		if tg.proto == "redis" {
			n = p.turns.Load()
		}
		return float64(n) / float64(max(c.acquired, 1))
	}
	o, r := per(po, ours), per(pr, raw)
	verdict := "–"
	herdMu.Lock()
	if first, ok := herdFirst[tg.name]; ok {
		// Flat: at most 1.5 times the requests per acquisition of the
		// smaller worker count.
		verdict = yes(o <= 1.5*first)
	} else {
		herdFirst[tg.name] = o
	}
	herdMu.Unlock()
	results.add(tg.name, row{metric: fmt.Sprintf("%d workers, 1 lock: requests per acquisition, all workers (counted by a proxy)", workers),
		ours: fmt.Sprintf("%.1f", o), raw: fmt.Sprintf("%.1f", r), bar: "no herd: flat from 8 to 32 workers", verdict: verdict})
}

var (
	herdMu    sync.Mutex
	herdFirst = map[string]float64{} // tooz's requests per acquisition at the first worker count, per backend
)

// benchFailover elects one of 3 candidates (own coordinators, liveness
// timeout tr.timeout), crashes it with Abandon and times the election of
// the next, then times a graceful Resign hand-over to the third.
func benchFailover(t *testing.T, tg *target, tr tier, rtt time.Duration) {
	var crash, graceful samples
	for range tr.failovers {
		ns, g := unique("ns"), unique("g")
		cs := make([]*tooz.Coordinator, 3)
		for i := range cs {
			cs[i] = open(t, tg, ns, fmt.Sprintf("c%d", i), tooz.WithTimeout(tr.timeout))
		}
		type won struct {
			i  int
			l  *tooz.Leadership
			at time.Time
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ch := make(chan won, 3)
		for i, c := range cs {
			go func() {
				l, err := c.Campaign(ctx, g)
				if err != nil {
					ch <- won{i: -1}
					return
				}
				ch <- won{i, l, time.Now()}
			}()
		}
		next := func() won {
			select {
			case w := <-ch:
				if w.i < 0 {
					t.Fatal("campaign failed")
				}
				return w
			case <-ctx.Done():
				t.Fatal("no leader within a minute")
			}
			return won{}
		}
		first := next()
		t0 := time.Now()
		if err := cs[first.i].Abandon(); err != nil {
			t.Fatalf("abandon: %v", err)
		}
		second := next()
		crash = append(crash, second.at.Sub(t0))
		t1 := time.Now()
		if err := second.l.Resign(ctx); err != nil {
			t.Fatalf("resign: %v", err)
		}
		third := next()
		graceful = append(graceful, third.at.Sub(t1))
		cancel()
	}
	if len(crash) == 0 || crash.p50() <= 0 || graceful.p50() <= 0 {
		t.Fatal("no failover measured")
	}
	n := fmt.Sprintf(" (n=%d)", len(crash))
	bar, verdict := "–", "–"
	if tg.crashable {
		b := tg.livenessBar(tr.timeout) + 2*rtt
		bar = "≤ " + ms(b)
		if tg.name == "consul" {
			bar += " (2×TTL + 2 RTT)"
		} else {
			bar += " (timeout + 2 RTT)"
		}
		verdict = yes(crash.q(1) <= b)
	}
	results.add(tg.name, row{metric: fmt.Sprintf("failover after a crash (Abandon), liveness timeout %v: p50 / max", tr.timeout) + n, ours: ms(crash.p50()) + " / " + ms(crash.q(1)), bar: bar, verdict: verdict})
	if tg.name == "etcd" {
		// etcd frees an expired lease late (its lessor checks every
		// 500 ms): the bar that can be met is etcd's own recipe's.
		raw := rawEtcdFailover(t, tg.addr, tr.failovers, tr.timeout)
		results.add(tg.name, row{metric: "… vs concurrency.Election (client closed, lease left to expire), p50 / max", ours: ms(crash.p50()) + " / " + ms(crash.q(1)),
			raw: ms(raw.p50()) + " / " + ms(raw.q(1)), ratio: ratio(float64(crash.p50()), float64(raw.p50())), bar: "≤ raw + 2 RTT (" + ms(raw.p50()+2*rtt) + ")", verdict: yes(crash.p50() <= raw.p50()+2*rtt)})
	}
	if tg.name == "k8s" {
		raw := rawKubeFailover(t, kubes[tg.server], tr.failovers, tr.timeout)
		renew := tr.timeout / 3
		results.add(tg.name, row{metric: "… vs client-go leaderelection (lease = timeout, renew 2/3, retry 2/15 of it; leader stops renewing), p50 / max", ours: ms(crash.p50()) + " / " + ms(crash.q(1)),
			raw: ms(raw.p50()) + " / " + ms(raw.q(1)), ratio: ratio(float64(crash.p50()), float64(raw.p50())),
			bar: "≤ lease + one renew period (" + ms(tr.timeout+renew) + ")", verdict: yes(crash.q(1) <= tr.timeout+renew)})
	}
	if tg.crashable {
		results.add(tg.name, row{metric: "… failover beyond the liveness bound (detection), p50 / max", ours: ms(crash.p50()-tg.livenessBar(tr.timeout)) + " / " + ms(crash.q(1)-tg.livenessBar(tr.timeout)),
			bar: "≤ " + ms(2*rtt) + " (2 RTT)"})
	}
	gbar, gverdict := "–", "–"
	if rtt > 0 {
		gbar = fmt.Sprintf("(%.1f RTT)", float64(graceful.p50())/float64(rtt))
	}
	results.add(tg.name, row{metric: "graceful Resign → next leader elected: p50 / max", ours: ms(graceful.p50()) + " / " + ms(graceful.q(1)), bar: gbar, verdict: gverdict})
}

// benchEvents times, from a watcher on a coordinator of its own, the
// events of another coordinator joining and leaving a group.
func benchEvents(t *testing.T, tg *target, tr tier, rtt time.Duration) {
	ctx := context.Background()
	ns, g := unique("ns"), unique("g")
	w := open(t, tg, ns, "watcher")
	j := open(t, tg, ns, "joiner")
	if err := w.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	joined := make(chan time.Time, tr.events+1)
	left := make(chan time.Time, tr.events+1)
	wj, err := w.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) {
		if e.Member == "joiner" {
			joined <- time.Now()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer wj.Stop()
	wl, err := w.WatchLeaveGroup(ctx, g, func(e tooz.MemberLeft) {
		if e.Member == "joiner" {
			left <- time.Now()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Stop()
	var joinCall, joinAfter, leaveCall, leaveAfter samples
	wait := func(ch chan time.Time, what string) time.Time {
		select {
		case at := <-ch:
			return at
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s event within 30s", what)
		}
		return time.Time{}
	}
	for range tr.events {
		t0 := time.Now()
		if err := j.JoinGroup(ctx, g, []byte("caps")); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		at := wait(joined, "join")
		joinCall, joinAfter = append(joinCall, t1.Sub(t0)), append(joinAfter, at.Sub(t1))
		t0 = time.Now()
		if err := j.LeaveGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		t1 = time.Now()
		at = wait(left, "leave")
		leaveCall, leaveAfter = append(leaveCall, t1.Sub(t0)), append(leaveAfter, at.Sub(t1))
	}
	if len(joinAfter) == 0 || joinCall.p50() <= 0 {
		t.Fatal("no event measured")
	}
	n := fmt.Sprintf(" (n=%d)", len(joinAfter))
	poll := "poll every 1 s: mean 500 ms"
	for _, e := range []struct {
		what        string
		call, after samples
	}{{"join", joinCall, joinAfter}, {"leave", leaveCall, leaveAfter}} {
		bar, verdict := within2RTT(e.after.p50(), rtt)
		results.add(tg.name, row{metric: fmt.Sprintf("%s → watcher's event, after the %s call returned: p50 / p99", e.what, e.what) + n,
			ours: ms(e.after.p50()) + " / " + ms(e.after.p99()), raw: poll, bar: bar, verdict: verdict})
		results.add(tg.name, row{metric: fmt.Sprintf("%s call itself: p50", e.what), ours: ms(e.call.p50())})
	}
}

// benchScale joins tr.joins members (a coordinator each) and lists the
// group.
func benchScale(t *testing.T, tg *target, tr tier, rtt time.Duration) {
	ctx := context.Background()
	ns, g := unique("ns"), unique("g")
	lister := open(t, tg, ns, "creator")
	var proxy *countingProxy
	if tg.proto != "" {
		// The lister talks through a proxy that counts its requests.
		proxy = startProxy(t, tg.addr, tg.proto)
		pt := *tg
		pt.url = tg.urlAt(proxy.addr)
		lister = open(t, &pt, ns, "lister")
	}
	if err := lister.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	joins, wall := joinMany(t, tg, ns, g, tr.joins, "m", 0)
	results.add(tg.name, row{metric: fmt.Sprintf("join %d members (a coordinator each, 8 at a time): wall time; JoinGroup p50", tr.joins),
		ours: fmt.Sprintf("%s; %s", ms(wall), ms(joins.p50()))})
	listRow(t, tg, lister, proxy, g, tr.joins, rtt)
	list := tr.list
	if tg.maxList > 0 {
		list = min(list, tg.maxList)
	}
	// file://: an abandoned coordinator's session is dead at once (the
	// kernel dropped its flock), so abandoned members cannot pad the group.
	if list > tr.joins && tg.name != "file" {
		_, wall := joinMany(t, tg, ns, g, list-tr.joins, "x", tg.abandonTTL)
		t.Logf("%d more members joined in %v", list-tr.joins, wall)
		listRow(t, tg, lister, proxy, g, list, rtt)
	}
}

// joinMany opens n coordinators, 8 at a time, each joining group g. With
// an abandonTTL they are opened without a heart and with that liveness
// timeout, and abandoned at once: their members stay until it expires.
// Else they stay open until the test ends.
func joinMany(t *testing.T, tg *target, ns, g string, n int, prefix string, abandonTTL time.Duration) (samples, time.Duration) {
	abandon := abandonTTL > 0
	ctx := context.Background()
	var (
		mu    sync.Mutex
		lat   samples
		start = time.Now()
	)
	var opts []tooz.Option
	if abandon {
		opts = append(opts, tooz.WithoutHeart(), tooz.WithTimeout(abandonTTL))
	}
	err := eightAtATime(n, func(i int) error {
		c, err := tooz.Open(ctx, tg.url, fmt.Sprintf("%s%05d", prefix, i), append([]tooz.Option{tooz.WithNamespace(ns), tooz.WithTimeout(30 * time.Second)}, opts...)...)
		if err != nil {
			return err
		}
		t0 := time.Now()
		err = c.JoinGroup(ctx, g, []byte("capabilities"))
		d := time.Since(t0)
		if abandon {
			_ = c.Abandon()
		} else {
			t.Cleanup(func() { _ = c.Close(context.Background()) })
		}
		if err != nil {
			return err
		}
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lat, time.Since(start)
}

// eightAtATime calls f for 0 … n-1 on 8 goroutines, and returns the first
// error, after which no new call starts.
func eightAtATime(n int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		once  sync.Once
		first error
		stop  atomic.Bool
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					stop.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// listRow lists group g (expecting n members) a few times.
func listRow(t *testing.T, tg *target, c *tooz.Coordinator, proxy *countingProxy, g string, n int, rtt time.Duration) {
	ctx := context.Background()
	var lat samples
	var reqs, turns []int64
	for range 5 {
		if proxy != nil {
			proxy.reset()
		}
		start := time.Now()
		infos, err := c.MembersInfo(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if proxy != nil {
			reqs, turns = append(reqs, proxy.requests.Load()), append(turns, proxy.turns.Load())
		}
		if len(infos) < n {
			t.Fatalf("listed %d members, want %d", len(infos), n)
		}
	}
	rtts := "–"
	if rtt > 0 {
		rtts = fmt.Sprintf("%.0f× the floor RTT", float64(lat.p50())/float64(rtt))
	}
	results.add(tg.name, row{metric: fmt.Sprintf("list %d members with info: p50", n), ours: ms(lat.p50()), raw: rtts})
	if proxy != nil {
		slices.Sort(reqs)
		slices.Sort(turns)
		rq, tn := reqs[len(reqs)/2], turns[len(turns)/2]
		what := fmt.Sprintf("%d requests in %d sequential round trips", rq, tn)
		trips := tn
		switch tg.proto {
		case "redis":
			what = fmt.Sprintf("%d sequential round trips", tn)
		case "h2":
			// gRPC's flow control and pings make turns of their own: a
			// unary call is one round trip.
			what, trips = fmt.Sprintf("%d gRPC calls (%d turns incl. HTTP/2 flow control)", rq, tn), rq
		}
		results.add(tg.name, row{metric: fmt.Sprintf("list %d members: round trips (median of 5, counted by a proxy)", n), ours: what, bar: "1 round trip", verdict: yes(trips <= 1)})
	}
}

// holdMany acquires tr.held locks from one coordinator and reports the
// client's goroutines and heap per held lock.
func holdMany(t *testing.T, tg *target, tr tier) {
	if tg.name == "k8s" {
		tr.held = min(tr.held, tg.maxList) // 7 ms per Lease: 10,000 would take minutes
	}
	ctx := context.Background()
	c := open(t, tg, unique("ns"), "holder")
	// A few locks first, so that what a coordinator spends once is not
	// counted per lock: watchers of its session and the like, and on
	// Consul the queries of its first ownerships, which are followed one
	// by one (drivers/consul/holdings.go) before the rest share one.
	for i := range warmHeld {
		if err := c.Lock(fmt.Sprintf("warm-%d", i)).Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	beats := func() samples {
		var out samples
		for range 21 {
			start := time.Now()
			if _, err := c.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
			out = append(out, time.Since(start))
		}
		return out
	}
	beat1 := beats()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	start := time.Now()
	locks := make([]*tooz.Lock, tr.held)
	for i := range locks {
		locks[i] = c.Lock(fmt.Sprintf("held-%d", i))
		if err := locks[i].Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wall := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	g1 := runtime.NumGoroutine()
	beatN := beats()
	for _, l := range locks {
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	per := float64(g1-g0) / float64(tr.held)
	results.add(tg.name, row{metric: fmt.Sprintf("hold %d locks from one coordinator: wall time; goroutines per held lock", tr.held),
		ours: fmt.Sprintf("%s; %.2f", ms(wall), per), bar: "0 goroutines", verdict: yes(per < 0.01)})
	heap := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / 1024 / float64(tr.held)
	stack := float64(int64(m1.StackInuse)-int64(m0.StackInuse)) / 1024 / float64(tr.held)
	results.add(tg.name, row{metric: "… client memory per held lock (after GC): heap + goroutine stacks", ours: fmt.Sprintf("%.1f KiB (%.1f + %.1f)", heap+stack, heap, stack),
		bar: "≤ 2 KiB", verdict: yes(heap+stack <= 2)})
	results.add(tg.name, row{metric: fmt.Sprintf("… Heartbeat p50 with %d / %d locks held (n=21 each); cost per held lock", warmHeld, warmHeld+tr.held),
		ours: fmt.Sprintf("%s / %s; %s", ms(beat1.p50()), ms(beatN.p50()), ms((beatN.p50()-beat1.p50())/time.Duration(tr.held)))})
}

// warmHeld is how many locks holdMany takes before it starts counting.
const warmHeld = 16
