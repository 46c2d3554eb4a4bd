// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"go.etcd.io/etcd/client/v3/concurrency"
	recipe "go.etcd.io/etcd/client/v3/experimental/recipes"

	"github.com/toozgo/tooz"
)

// Semaphores and read/write locks: the uncontended cycles against tooz's
// own lock cycle, a semaphore of 4 permits under 16 workers against
// consul/api's Semaphore (the only raw client with one), requests per
// acquisition from 8 to 32 workers, and read/write locks under a mix of
// readers and writers against etcd's experimental RWMutex recipe.

// permitsN and permitWorkers are the setting: n=4, 16 workers.
const (
	permitsN      = 4
	permitWorkers = 16
)

func benchShared(t *testing.T, tg *target, tr tier) {
	t.Run("cycle", func(t *testing.T) { sharedCycle(t, tg, tr) })
	t.Run("semaphore", func(t *testing.T) { semaphoreContended(t, tg, tr) })
	if tg.proto != "" {
		for _, w := range tr.workers {
			t.Run(fmt.Sprintf("herd-%d", w), func(t *testing.T) { semaphoreHerd(t, tg, tr, w) })
		}
	}
	t.Run("rwlock", func(t *testing.T) { rwContended(t, tg, tr) })
}

func semLocker(s *tooz.Semaphore) locker { return lockFuncs{s.Acquire, s.Release} }

// sharedCycle interleaves one uncontended cycle of each: tooz's lock, a
// semaphore permit, the read/write lock exclusive and shared, and (on
// etcd) the raw RWMutex recipe.
func sharedCycle(t *testing.T, tg *target, tr tier) {
	ctx := context.Background()
	c := open(t, tg, unique("ns"), "cycle")
	rw := c.RWLock(unique("rw"))
	kinds := []struct {
		name string
		l    locker
	}{
		{"lock", ourLocker(c.Lock(unique("lock")))},
		{"permit", semLocker(c.Semaphore(unique("sem"), permitsN))},
		{"exclusive", lockFuncs{rw.Acquire, rw.Release}},
		{"shared", lockFuncs{rw.AcquireShared, rw.Release}},
	}
	raw := rawRWMutex(t, tg, unique("rawrw"))
	if raw != nil {
		kinds = append(kinds, struct {
			name string
			l    locker
		}{"raw", raw.exclusive})
	}
	got := map[string]samples{}
	warm := tr.cycles/10 + 1
	for i := range tr.cycles + warm {
		for k := range kinds {
			kd := kinds[(i+k)%len(kinds)]
			start := time.Now()
			if err := kd.l.Lock(ctx); err != nil {
				t.Fatalf("%s cycle: %v", kd.name, err)
			}
			if err := kd.l.Unlock(ctx); err != nil {
				t.Fatalf("%s cycle: %v", kd.name, err)
			}
			if i >= warm {
				got[kd.name] = append(got[kd.name], time.Since(start))
			}
		}
	}
	lock := got["lock"].p50()
	n := fmt.Sprintf(" (n=%d)", len(got["lock"]))
	pr := float64(got["permit"].p50()) / float64(lock)
	results.add(tg.name, row{metric: fmt.Sprintf("semaphore (%d permits) permit cycle, uncontended, p50%s; raw: tooz's own lock cycle", permitsN, n),
		ours: ms(got["permit"].p50()), raw: "tooz lock: " + ms(lock), ratio: ratio(float64(got["permit"].p50()), float64(lock)),
		bar: "≤ 1.10× tooz's lock", verdict: yes(pr <= 1.10)})
	rawX := "tooz lock: " + ms(lock)
	base := float64(lock)
	if raw != nil {
		rawX = "recipe.RWMutex: " + ms(got["raw"].p50())
		base = float64(got["raw"].p50())
	}
	results.add(tg.name, row{metric: "read/write lock cycle, uncontended, exclusive, p50", ours: ms(got["exclusive"].p50()), raw: rawX,
		ratio: ratio(float64(got["exclusive"].p50()), base)})
	results.add(tg.name, row{metric: "read/write lock cycle, uncontended, shared, p50", ours: ms(got["shared"].p50()), raw: "tooz lock: " + ms(lock),
		ratio: ratio(float64(got["shared"].p50()), float64(lock))})
}

// permitRun is the outcome of workers contending for the permits of one semaphore.
type permitRun struct {
	acquired int
	elapsed  time.Duration
	handover samples // a release started -> the acquisition it let in returned
	most     int     // the most holders at once, as the workers saw it
}

// contendPermits has every locker take and give back a permit for d. A
// release starts a hand-over, which the next acquisition in time ends
// (all permits are busy: each release lets exactly one waiter in).
func contendPermits(t *testing.T, ls []locker, d time.Duration) permitRun {
	var (
		res      permitRun
		inside   int
		releases []time.Time
	)
	res.elapsed = runWorkers(t, ls, d, func(_ int, now time.Time, stopped bool) {
		inside++
		res.most = max(res.most, inside)
		if !stopped {
			res.acquired++
			if len(releases) > 0 {
				res.handover = append(res.handover, now.Sub(releases[0]))
				releases = releases[1:]
			}
		}
	}, func(stopped bool) {
		inside--
		if !stopped {
			releases = append(releases, time.Now())
		}
	})
	return res
}

// rawSemaphore makes consul/api Semaphore contenders (nil elsewhere).
func rawSemaphore(t testing.TB, tg *target, addr, name string) locker {
	if tg.name != "consul" {
		return nil
	}
	c := consulClient(t, addr)
	s, err := c.SemaphoreOpts(&api.SemaphoreOptions{Prefix: "raw/" + name, Limit: permitsN, Session: rawSession(t, c)})
	if err != nil {
		t.Fatal(err)
	}
	return lockFuncs{
		lock: func(ctx context.Context) error {
			ch, err := s.Acquire(ctx.Done())
			if err == nil && ch == nil {
				err = ctx.Err()
			}
			return err
		},
		unlock: func(context.Context) error { return s.Release() },
	}
}

func semaphoreContended(t *testing.T, tg *target, tr tier) {
	ns, name := unique("ns"), unique("sem")
	ours := make([]locker, permitWorkers)
	var raw []locker
	for i := range permitWorkers {
		ours[i] = semLocker(open(t, tg, ns, fmt.Sprintf("w%d", i)).Semaphore(name, permitsN))
		if r := rawSemaphore(t, tg, tg.addr, name); r != nil {
			raw = append(raw, r)
		}
	}
	var o, r permitRun
	for range tr.rounds {
		x := contendPermits(t, ours, tr.contendFor)
		o.acquired, o.elapsed, o.handover, o.most = o.acquired+x.acquired, o.elapsed+x.elapsed, append(o.handover, x.handover...), max(o.most, x.most)
		if raw != nil {
			y := contendPermits(t, raw, tr.contendFor)
			r.acquired, r.elapsed, r.handover = r.acquired+y.acquired, r.elapsed+y.elapsed, append(r.handover, y.handover...)
		}
	}
	if o.acquired == 0 {
		t.Fatal("no permit acquired")
	}
	if o.most > permitsN {
		t.Fatalf("%d holders at once of a %d-permit semaphore", o.most, permitsN)
	}
	what := fmt.Sprintf("semaphore of %d, %d workers", permitsN, permitWorkers)
	rate := func(p permitRun) float64 { return float64(p.acquired) / p.elapsed.Seconds() }
	rawRate, rawHand, rawRatio, handRatio := "– (no raw recipe)", "–", "–", "–"
	if raw != nil && r.acquired > 0 {
		rawRate = fmt.Sprintf("api.Semaphore: %.0f", rate(r))
		rawHand = fmt.Sprintf("%s (n=%d)", ms(r.handover.p50()), len(r.handover))
		rawRatio = ratio(rate(o), rate(r))
		handRatio = ratio(float64(o.handover.p50()), float64(r.handover.p50()))
	}
	results.add(tg.name, row{metric: what + ": acquisitions/s (higher is better)", ours: fmt.Sprintf("%.0f", rate(o)), raw: rawRate, ratio: rawRatio})
	results.add(tg.name, row{metric: what + ": hand-over, p50 (a release → the acquisition it lets in)",
		ours: fmt.Sprintf("%s (n=%d)", ms(o.handover.p50()), len(o.handover)), raw: rawHand, ratio: handRatio})
}

// semaphoreHerd counts the requests per acquisition of workers on one
// semaphore of 4 permits, through a counting proxy (see herd).
func semaphoreHerd(t *testing.T, tg *target, tr tier, workers int) {
	name, ns := unique("semherd"), unique("ns")
	po := startProxy(t, tg.addr, tg.proto)
	pt := *tg
	pt.url = tg.urlAt(po.addr)
	ours := make([]locker, workers)
	var raw []locker
	var pr *countingProxy
	if tg.name == "consul" {
		pr = startProxy(t, tg.addr, tg.proto)
	}
	for i := range workers {
		ours[i] = semLocker(open(t, &pt, ns, fmt.Sprintf("w%d", i)).Semaphore(name, permitsN))
		if pr != nil {
			raw = append(raw, rawSemaphore(t, tg, pr.addr, name))
		}
	}
	per := func(p *countingProxy, ls []locker) float64 {
		p.reset()
		c := contendPermits(t, ls, tr.contendFor/2)
		n := p.requests.Load()
		if tg.proto == "redis" {
			n = p.turns.Load()
		}
		return float64(n) / float64(max(c.acquired, 1))
	}
	o := per(po, ours)
	rawS := "– (no raw recipe)"
	if pr != nil {
		rawS = fmt.Sprintf("api.Semaphore: %.1f", per(pr, raw))
	}
	verdict := "–"
	herdMu.Lock()
	key := tg.name + "/semaphore"
	if first, ok := herdFirst[key]; ok {
		verdict = yes(o <= 1.5*first)
	} else {
		herdFirst[key] = o
	}
	herdMu.Unlock()
	results.add(tg.name, row{metric: fmt.Sprintf("semaphore of %d, %d workers: requests per acquisition (counted by a proxy)", permitsN, workers),
		ours: fmt.Sprintf("%.1f", o), raw: rawS, bar: "no herd: flat from 8 to 32 workers", verdict: verdict})
}

// rawRW is one contender of etcd's experimental RWMutex recipe.
type rawRW struct{ exclusive, shared locker }

// rawRWMutex makes a contender of etcd's RWMutex recipe (nil elsewhere).
func rawRWMutex(t testing.TB, tg *target, name string) *rawRW {
	if tg.name != "etcd" {
		return nil
	}
	sess, err := concurrency.NewSession(etcdClient(t, tg.addr), concurrency.WithTTL(10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	m := recipe.NewRWMutex(sess, "/rawrw/"+name)
	return &rawRW{
		exclusive: lockFuncs{func(context.Context) error { return m.Lock() }, func(context.Context) error { return m.Unlock() }},
		shared:    lockFuncs{func(context.Context) error { return m.RLock() }, func(context.Context) error { return m.RUnlock() }},
	}
}

// rwContended runs 4 writers and 12 readers on one read/write lock.
func rwContended(t *testing.T, tg *target, tr tier) {
	const writers, readers = 4, 12
	ns, name := unique("ns"), unique("rw")
	var ours, raw []locker
	for i := range writers + readers {
		l := open(t, tg, ns, fmt.Sprintf("w%d", i)).RWLock(name)
		r := rawRWMutex(t, tg, name)
		if i < writers {
			ours = append(ours, lockFuncs{l.Acquire, l.Release})
			if r != nil {
				raw = append(raw, r.exclusive)
			}
		} else {
			ours = append(ours, lockFuncs{l.AcquireShared, l.Release})
			if r != nil {
				raw = append(raw, r.shared)
			}
		}
	}
	var o, r contention
	for range tr.rounds {
		o.merge(contend(t, ours, tr.contendFor, false))
		if raw != nil {
			r.merge(contend(t, raw, tr.contendFor, false))
		}
	}
	if o.acquired == 0 {
		t.Fatal("nothing acquired")
	}
	rawS, rat, fair := "– (no raw recipe)", "–", "–"
	if raw != nil && r.acquired > 0 {
		rawS, rat, fair = fmt.Sprintf("recipe.RWMutex: %.0f", r.rate()), ratio(o.rate(), r.rate()), r.fairness()
	}
	what := fmt.Sprintf("read/write lock, %d writers + %d readers", writers, readers)
	results.add(tg.name, row{metric: what + ": acquisitions/s (higher is better)", ours: fmt.Sprintf("%.0f", o.rate()), raw: rawS, ratio: rat})
	results.add(tg.name, row{metric: what + ": min / max acquisitions per worker (writers are not starved)", ours: o.fairness(), raw: fair})
}
