// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
)

// The benchmarks run the driver beside the raw client's recipe
// (zk.NewLock) on the same server in the same run, so that their ratio can
// be read. Each runs twice: with ZooKeeper fsyncing every write to disk
// (its default) and with forceSync=no.
//
//	go test -run '^$' -bench . -benchtime 2000x ./drivers/zookeeper/

func benchServers(b *testing.B, f func(b *testing.B, addr string)) {
	for _, mode := range []struct {
		name string
		opts []testserver.Option
	}{{"fsync", nil}, {"nofsync", []testserver.Option{testserver.WithNoFsync()}}} {
		b.Run(mode.name, func(b *testing.B) {
			srv := testserver.StartZooKeeper(b, mode.opts...)
			f(b, srv.Addr)
		})
	}
}

// cpuTime returns the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the client process's CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "client-cpu-µs/op")
}

// latencies records one duration per iteration and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), "p99-µs")
}

func openBench(b *testing.B, addr, member string) *tooz.Coordinator {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := tooz.Open(ctx, "zookeeper://"+addr+"/bench", member)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func rawBench(b *testing.B, addr string) *zk.Conn {
	z, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(z.Close)
	return z
}

// BenchmarkLockCycle is one uncontended Acquire + Release.
func BenchmarkLockCycle(b *testing.B) {
	benchServers(b, func(b *testing.B, addr string) {
		ctx := context.Background()
		b.Run("tooz", func(b *testing.B) {
			c := openBench(b, addr, "bench")
			l := c.Lock(unique("cycle"))
			lat := make(latencies, 0, b.N)
			cpu := cpuTime()
			for b.Loop() {
				start := time.Now()
				if err := l.Acquire(ctx); err != nil {
					b.Fatal(err)
				}
				if err := l.Release(ctx); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportCPU(b, cpu)
			lat.report(b)
		})
		b.Run("raw-zk.Lock", func(b *testing.B) {
			z := rawBench(b, addr)
			lk := zk.NewLock(z, "/bench-raw/"+unique("cycle"), zk.WorldACL(zk.PermAll))
			lat := make(latencies, 0, b.N)
			cpu := cpuTime()
			for b.Loop() {
				start := time.Now()
				if err := lk.Lock(); err != nil {
					b.Fatal(err)
				}
				if err := lk.Unlock(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportCPU(b, cpu)
			lat.report(b)
		})
	})
}

// BenchmarkLockHandover has 2 or 4 clients take one lock in turn as fast
// as they can: every acquisition is a hand-over from a releasing holder to
// a waiter woken by its predecessor watch. ns/op is per acquisition;
// handover-p50-µs is the time from the holder calling Release to the next
// holder's Acquire returning.
func BenchmarkLockHandover(b *testing.B) {
	benchServers(b, func(b *testing.B, addr string) {
		ctx := context.Background()
		for _, workers := range []int{2, 4} {
			b.Run(fmt.Sprintf("workers=%d/tooz", workers), func(b *testing.B) {
				name := unique("handover")
				locks := make([]*tooz.Lock, workers)
				for i := range locks {
					locks[i] = openBench(b, addr, fmt.Sprintf("w%d", i)).Lock(name)
				}
				runHandover(b, workers,
					func(i int) error { return locks[i].Acquire(ctx) },
					func(i int) error { return locks[i].Release(ctx) })
			})
			b.Run(fmt.Sprintf("workers=%d/raw-zk.Lock", workers), func(b *testing.B) {
				path := "/bench-raw/" + unique("handover")
				locks := make([]*zk.Lock, workers)
				for i := range locks {
					locks[i] = zk.NewLock(rawBench(b, addr), path, zk.WorldACL(zk.PermAll))
				}
				runHandover(b, workers,
					func(i int) error { return locks[i].Lock() },
					func(i int) error { return locks[i].Unlock() })
			})
		}
	})
}

// runHandover shares b.N acquisitions among the workers.
func runHandover(b *testing.B, workers int, acquire, release func(worker int) error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		left     = b.N
		released time.Time // when the last holder started releasing
		lat      = make(latencies, 0, b.N)
		errs     = make(chan error, workers)
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if left == 0 {
			return false
		}
		left--
		return true
	}
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for take() {
				if err := acquire(i); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if !released.IsZero() {
					lat = append(lat, time.Since(released))
				}
				released = time.Now()
				mu.Unlock()
				if err := release(i); err != nil {
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
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "acq/s")
	reportCPU(b, cpu)
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "handover-p50-µs")
	}
}
