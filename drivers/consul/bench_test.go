// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// benchAgents runs fn against an in-memory agent (-dev: Raft in memory, no
// fsync) and an agent with its data on disk (Raft log fsynced), so that
// numbers compare like with like.
func benchAgents(b *testing.B, fn func(b *testing.B, s *testserver.Server)) {
	for _, a := range []struct {
		name string
		opts []testserver.Option
	}{{"inmem", nil}, {"disk", []testserver.Option{testserver.WithPersistence()}}} {
		b.Run(a.name, func(b *testing.B) {
			fn(b, testserver.StartConsul(b, a.opts...))
		})
	}
}

// BenchmarkLockCycle measures an uncontended Acquire + Release with tooz,
// beside consul/api's own recipe on the same agent: Lock() then Unlock()
// with the session the recipe creates per Lock (its default), and with one
// session made beforehand.
func BenchmarkLockCycle(b *testing.B) {
	benchAgents(b, func(b *testing.B, s *testserver.Server) {
		raw := rawClient(b, s)
		h := newHarness(s, "")
		h.LivenessTimeout = 10 * time.Second
		b.Run("tooz", func(b *testing.B) {
			c := open(b, h, testutil.Unique("m"))
			l := c.Lock(testutil.Unique("lock"))
			ctx := context.Background()
			for b.Loop() {
				if err := l.Acquire(ctx); err != nil {
					b.Fatal(err)
				}
				if err := l.Release(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("consul-api-Lock", func(b *testing.B) {
			lock, err := raw.LockOpts(&api.LockOptions{Key: testutil.Unique("raw") + "/lock", SessionTTL: "10s"})
			testutil.Must(b, err, "lock")
			for b.Loop() {
				rawCycle(b, lock)
			}
		})
		b.Run("consul-api-Lock-one-session", func(b *testing.B) {
			id, _, err := raw.Session().Create(&api.SessionEntry{TTL: "10s", Behavior: api.SessionBehaviorDelete}, nil)
			testutil.Must(b, err, "session")
			defer raw.Session().Destroy(id, nil)
			lock, err := raw.LockOpts(&api.LockOptions{Key: testutil.Unique("raw") + "/lock", Session: id})
			testutil.Must(b, err, "lock")
			for b.Loop() {
				rawCycle(b, lock)
			}
		})
	})
}

// BenchmarkLockCycleInterleaved runs the three recipes of
// BenchmarkLockCycle in turn within every iteration, so that load from
// other processes on the machine weighs on each alike, and reports each
// recipe's time per cycle and the ratios (ns/op is the sum of the three).
func BenchmarkLockCycleInterleaved(b *testing.B) {
	benchAgents(b, func(b *testing.B, s *testserver.Server) {
		raw := rawClient(b, s)
		h := newHarness(s, "")
		h.LivenessTimeout = 10 * time.Second
		l := open(b, h, testutil.Unique("m")).Lock(testutil.Unique("lock"))
		perLock, err := raw.LockOpts(&api.LockOptions{Key: testutil.Unique("raw") + "/lock", SessionTTL: "10s"})
		testutil.Must(b, err, "lock")
		id, _, err := raw.Session().Create(&api.SessionEntry{TTL: "10s", Behavior: api.SessionBehaviorDelete}, nil)
		testutil.Must(b, err, "session")
		defer raw.Session().Destroy(id, nil)
		oneSession, err := raw.LockOpts(&api.LockOptions{Key: testutil.Unique("raw") + "/lock", Session: id})
		testutil.Must(b, err, "lock")
		ctx := context.Background()
		var tz, rawLock, rawOne time.Duration
		n := 0
		for b.Loop() {
			t0 := time.Now()
			if err := l.Acquire(ctx); err != nil {
				b.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			rawCycle(b, perLock)
			t2 := time.Now()
			rawCycle(b, oneSession)
			t3 := time.Now()
			tz, rawLock, rawOne = tz+t1.Sub(t0), rawLock+t2.Sub(t1), rawOne+t3.Sub(t2)
			n++
		}
		b.ReportMetric(float64(tz.Nanoseconds())/float64(n), "tooz-ns/cycle")
		b.ReportMetric(float64(rawLock.Nanoseconds())/float64(n), "api-Lock-ns/cycle")
		b.ReportMetric(float64(rawOne.Nanoseconds())/float64(n), "api-Lock-one-session-ns/cycle")
		b.ReportMetric(float64(rawLock)/float64(tz), "api-Lock/tooz")
		b.ReportMetric(float64(rawOne)/float64(tz), "api-Lock-one-session/tooz")
	})
}

func rawCycle(b *testing.B, lock *api.Lock) {
	ch, err := lock.Lock(nil)
	if err != nil || ch == nil {
		b.Fatalf("lock: %v", err)
	}
	if err := lock.Unlock(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLockContended measures hand-overs: workers on coordinators of
// their own take turns on one lock; ns/op is the time per acquisition.
// consul/api's recipe runs beside it with a Lock (and session) per worker.
func BenchmarkLockContended(b *testing.B) {
	const workers = 4
	benchAgents(b, func(b *testing.B, s *testserver.Server) {
		raw := rawClient(b, s)
		h := newHarness(s, "")
		h.LivenessTimeout = 10 * time.Second
		b.Run(fmt.Sprintf("tooz-%d", workers), func(b *testing.B) {
			name := testutil.Unique("lock")
			locks := make([]*tooz.Lock, workers)
			for i := range locks {
				locks[i] = open(b, h, testutil.Unique("m")).Lock(name)
			}
			ctx := context.Background()
			contend(b, workers, func(i int) error {
				if err := locks[i].Acquire(ctx); err != nil {
					return err
				}
				return locks[i].Release(ctx)
			})
		})
		b.Run(fmt.Sprintf("consul-api-Lock-%d", workers), func(b *testing.B) {
			key := testutil.Unique("raw") + "/lock"
			locks := make([]*api.Lock, workers)
			for i := range locks {
				l, err := raw.LockOpts(&api.LockOptions{Key: key, SessionTTL: "10s"})
				testutil.Must(b, err, "lock")
				locks[i] = l
			}
			contend(b, workers, func(i int) error {
				ch, err := locks[i].Lock(nil)
				if err != nil || ch == nil {
					return fmt.Errorf("lock: %v", err)
				}
				return locks[i].Unlock()
			})
		})
	})
}

// contend runs b.N calls of cycle spread over workers goroutines.
func contend(b *testing.B, workers int, cycle func(worker int) error) {
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	b.ResetTimer()
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := cycle(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkRevocationDetection: a held lock's owner key is deleted out of
// band (consul kv delete); reported is the time from the delete returning
// to the lock's Lost closing (revoke-ms). In "solo" the lock's key is
// followed by a blocking query of its own, in "shared" by the query a
// session shares for its ownerships beyond the first few (holdings.go),
// with as many other locks held under it as the name says.
//
//	go test -run '^$' -bench RevocationDetection -benchtime 200x ./drivers/consul/
func BenchmarkRevocationDetection(b *testing.B) {
	s := testserver.StartConsul(b)
	raw := rawClient(b, s)
	h := newHarness(s, "")
	for _, held := range []int{-1, 100, 1000} {
		name := fmt.Sprintf("shared-held=%d", held)
		if held < 0 {
			name = "solo"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			c := open(b, h, testutil.Unique("m"))
			if held >= 0 {
				c.Driver().(*conn).soloHoldings = 0
				for i := range held {
					testutil.Must(b, c.Lock(fmt.Sprintf("other-%d", i)).Acquire(ctx), "lock")
				}
			}
			var total time.Duration
			for i := 0; b.Loop(); i++ {
				l := c.Lock(fmt.Sprintf("revoked-%d", i))
				testutil.Must(b, l.Acquire(ctx), "lock")
				if _, err := raw.KV().Delete(h.ownerKey(b, tooz.KindLock, l.Name()), nil); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				testutil.WaitClosed(b, l.Lost(), 10*time.Second, "the revoked lock to be reported lost")
				total += time.Since(t0)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "revoke-ms")
		})
	}
}
