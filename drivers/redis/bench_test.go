// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// rawRelease is the usual compare-and-delete release of the raw recipe.
var rawRelease = goredis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// latencies records per-operation durations and reports percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	b.ReportMetric(float64(l.d[len(l.d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(l.d[len(l.d)*99/100].Microseconds()), "p99-µs")
}

// handovers counts acquisitions by another worker than the previous holder.
type handovers struct {
	mu          sync.Mutex
	last, n, of int
}

func (h *handovers) enter(worker int) {
	h.mu.Lock()
	if h.of > 0 && worker != h.last {
		h.n++
	}
	h.last = worker
	h.of++
	h.mu.Unlock()
}

func (h *handovers) report(b *testing.B) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.of > 1 {
		b.ReportMetric(float64(h.n)/float64(h.of-1), "handovers/op")
	}
}

// BenchmarkLockCycle measures an uncontended acquire + release through
// tooz (tooz.Lock), through the driver alone, and with the raw go-redis
// recipe (SET NX PX, then a Lua compare-and-delete) on the same server, in
// the same run:
//
//	go test -run '^$' -bench LockCycle -benchtime 3s ./drivers/redis/
func BenchmarkLockCycle(b *testing.B) {
	s := testserver.StartRedis(b)
	url := testURL(s, "")
	ctx := context.Background()
	b.Run("tooz", func(b *testing.B) {
		c := open(b, url, testutil.Unique("bench"))
		l := c.Lock(testutil.Unique("lock"))
		var lat latencies
		for b.Loop() {
			start := time.Now()
			if err := l.Acquire(ctx); err != nil {
				b.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(start))
		}
		lat.report(b)
	})
	b.Run("driver", func(b *testing.B) {
		// The driver alone, without the Coordinator's bookkeeping.
		d := driverOf(b, open(b, url, testutil.Unique("bench")))
		res := tooz.Resource{Kind: tooz.KindLock, Name: testutil.Unique("lock")}
		var lat latencies
		for b.Loop() {
			start := time.Now()
			o, err := d.Acquire(ctx, res, true)
			if err != nil {
				b.Fatal(err)
			}
			if err := o.Release(ctx); err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(start))
		}
		lat.report(b)
	})
	b.Run("raw", func(b *testing.B) {
		rdb := raw(b, s)
		key := testutil.Unique("rawlock")
		var lat latencies
		for b.Loop() {
			start := time.Now()
			tok := driverkit.NewID()
			ok, err := rdb.SetNX(ctx, key, tok, 10*time.Second).Result()
			if err != nil || !ok {
				b.Fatalf("SET NX: %v, %v", ok, err)
			}
			if err := rawRelease.Run(ctx, rdb, []string{key}, tok).Err(); err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(start))
		}
		lat.report(b)
	})
}

// BenchmarkLockHandOver measures contended acquisitions: 4 coordinators
// (one goroutine each) take turns on one lock; ns/op is the time per
// acquisition. Beside it, the raw recipe with its usual waiting: retry SET
// NX PX every millisecond. handovers/op is the share of acquisitions by
// another worker than the previous holder: tooz's queue is first in first
// served (every acquisition is a hand-over), while the raw recipe lets the
// releasing worker take the lock straight back, which is fast and starves
// the others (see p99).
//
//	go test -run '^$' -bench LockHandOver -benchtime 3s ./drivers/redis/
func BenchmarkLockHandOver(b *testing.B) {
	const workers = 4
	s := testserver.StartRedis(b)
	url := testURL(s, "")
	ctx := context.Background()
	b.Run("tooz", func(b *testing.B) {
		name := testutil.Unique("lock")
		locks := make([]*tooz.Lock, workers)
		for i := range locks {
			locks[i] = open(b, url, testutil.Unique("w")).Lock(name)
		}
		var left atomic.Int64
		left.Store(int64(b.N))
		var wg sync.WaitGroup
		var lat latencies
		var ho handovers
		b.ResetTimer()
		for i, l := range locks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					start := time.Now()
					if err := l.Acquire(ctx); err != nil {
						b.Error(err)
						return
					}
					lat.add(time.Since(start))
					ho.enter(i)
					if err := l.Release(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		lat.report(b)
		ho.report(b)
	})
	b.Run("raw-poll-1ms", func(b *testing.B) {
		rdb := raw(b, s)
		key := testutil.Unique("rawlock")
		var left atomic.Int64
		left.Store(int64(b.N))
		var wg sync.WaitGroup
		var lat latencies
		var ho handovers
		b.ResetTimer()
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					start := time.Now()
					tok := driverkit.NewID()
					for {
						ok, err := rdb.SetNX(ctx, key, tok, 10*time.Second).Result()
						if err != nil {
							b.Error(err)
							return
						}
						if ok {
							break
						}
						time.Sleep(time.Millisecond)
					}
					lat.add(time.Since(start))
					ho.enter(i)
					if err := rawRelease.Run(ctx, rdb, []string{key}, tok).Err(); err != nil && !errors.Is(err, goredis.Nil) {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		lat.report(b)
		ho.report(b)
	})
}
