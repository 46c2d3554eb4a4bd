// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

// Benchmarks of the driver beside the raw etcd client recipe doing the same
// job on the same server in the same run, so that the ratio can be read:
//
//	go test -run '^$' -bench . -benchtime 2s ./drivers/etcd/
//
// The server's data directory is under $TMPDIR (TMPDIR=/dev/shm puts it on
// tmpfs); TOOZ_BENCH_NOFSYNC=1 starts etcd with --unsafe-no-fsync. Each
// benchmark logs which it ran with.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// benchServer starts the etcd the benchmark's sub-benchmarks share.
func benchServer(b *testing.B) *testserver.Server {
	b.Helper()
	var opts []testserver.Option
	fsync := "on"
	if v := os.Getenv("TOOZ_BENCH_NOFSYNC"); v != "" && v != "0" {
		opts = append(opts, testserver.WithNoFsync())
		fsync = "off (--unsafe-no-fsync)"
	}
	s := testserver.StartEtcd(b, opts...)
	b.Logf("etcd %s: data in %s on %s, fsync %s", s.Name, s.DataDir, fsType(s.DataDir), fsync)
	return s
}

// fsType returns the type of the file system holding path, from /proc/mounts.
func fsType(path string) string {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	path, _ = filepath.EvalSymlinks(path)
	best, typ := "", "unknown"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		mnt := fields[1]
		if (path == mnt || strings.HasPrefix(path, strings.TrimSuffix(mnt, "/")+"/")) && len(mnt) > len(best) {
			best, typ = mnt, fields[2]
		}
	}
	return typ
}

// latencies records per-operation times and reports their percentiles.
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
	p := func(q float64) float64 { return float64(l.d[int(q*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

func benchOpen(b *testing.B, s *testserver.Server, ns, member string) *tooz.Coordinator {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tooz.Open(ctx, "etcd://"+s.Addr+"?namespace="+ns, member, tooz.WithTimeout(10*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func benchSession(b *testing.B, cli *clientv3.Client) *concurrency.Session {
	b.Helper()
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sess.Close() })
	return sess
}

// BenchmarkLockCycle is one uncontended Acquire + Release: ours (one Txn,
// one Delete) beside concurrency.Mutex Lock + Unlock on a Session.
func BenchmarkLockCycle(b *testing.B) {
	s := benchServer(b)
	ctx := context.Background()
	b.Run("tooz", func(b *testing.B) {
		c := benchOpen(b, s, testutil.Unique("bench"), "m")
		l := c.Lock(testutil.Unique("lock"))
		var lat latencies
		b.ResetTimer()
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
	b.Run("raw-concurrency.Mutex", func(b *testing.B) {
		cli := rawClient(b, s)
		m := concurrency.NewMutex(benchSession(b, cli), "/"+testutil.Unique("raw-lock"))
		var lat latencies
		b.ResetTimer()
		for b.Loop() {
			start := time.Now()
			if err := m.Lock(ctx); err != nil {
				b.Fatal(err)
			}
			if err := m.Unlock(ctx); err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(start))
		}
		lat.report(b)
	})
}

// BenchmarkJoinLeave is one JoinGroup + LeaveGroup: ours (two guarded
// transactions) beside a raw Put on a lease + Delete.
func BenchmarkJoinLeave(b *testing.B) {
	s := benchServer(b)
	ctx := context.Background()
	b.Run("tooz", func(b *testing.B) {
		c := benchOpen(b, s, testutil.Unique("bench"), "m")
		g := testutil.Unique("g")
		if err := c.CreateGroup(ctx, g); err != nil {
			b.Fatal(err)
		}
		var lat latencies
		b.ResetTimer()
		for b.Loop() {
			start := time.Now()
			if err := c.JoinGroup(ctx, g, []byte("caps")); err != nil {
				b.Fatal(err)
			}
			if err := c.LeaveGroup(ctx, g); err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(start))
		}
		lat.report(b)
	})
	b.Run("raw-put-delete", func(b *testing.B) {
		cli := rawClient(b, s)
		lease, err := cli.Grant(ctx, 10)
		if err != nil {
			b.Fatal(err)
		}
		key := "/" + testutil.Unique("raw-members") + "/m"
		var lat latencies
		b.ResetTimer()
		for b.Loop() {
			start := time.Now()
			if _, err := cli.Put(ctx, key, "caps", clientv3.WithLease(lease.ID)); err != nil {
				b.Fatal(err)
			}
			if _, err := cli.Delete(ctx, key); err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(start))
		}
		lat.report(b)
	})
}

// BenchmarkHandover has 2 and 8 contenders, each with its own lease, take and
// give back one lock in a loop; an op is one acquisition, so ns/op is the
// time from one holder to the next. The raw concurrency.Mutex waiters watch
// their predecessor from a past revision, which etcd serves from its
// unsynced watcher set every 100 ms; ours watch from the current revision.
func BenchmarkHandover(b *testing.B) {
	s := benchServer(b)
	ctx := context.Background()
	run := func(b *testing.B, cycle []func() error) {
		var lat latencies
		var n atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, len(cycle))
		b.ResetTimer()
		for _, f := range cycle {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n.Add(1) <= int64(b.N) {
					start := time.Now()
					if err := f(); err != nil {
						errs <- err
						return
					}
					lat.add(time.Since(start))
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		lat.report(b)
	}
	for _, contenders := range []int{2, 8} {
		b.Run(fmt.Sprintf("contenders=%d/tooz", contenders), func(b *testing.B) {
			ns, name := testutil.Unique("bench"), testutil.Unique("lock")
			var cycle []func() error
			for i := range contenders {
				l := benchOpen(b, s, ns, fmt.Sprintf("m%d", i)).Lock(name)
				cycle = append(cycle, func() error {
					if err := l.Acquire(ctx); err != nil {
						return err
					}
					return l.Release(ctx)
				})
			}
			run(b, cycle)
		})
		b.Run(fmt.Sprintf("contenders=%d/raw-concurrency.Mutex", contenders), func(b *testing.B) {
			cli := rawClient(b, s)
			prefix := "/" + testutil.Unique("raw-lock")
			var cycle []func() error
			for range contenders {
				m := concurrency.NewMutex(benchSession(b, cli), prefix)
				cycle = append(cycle, func() error {
					if err := m.Lock(ctx); err != nil {
						return err
					}
					return m.Unlock(ctx)
				})
			}
			run(b, cycle)
		})
	}
}

// BenchmarkRevocationDetection: a held lock's owner key is deleted out of
// band (an operator's etcdctl del); reported is the time from the delete
// returning to the lock's Lost closing (revoke-ms), for as many locks
// held beside it as the sub-benchmark says. In "same-name" one lock is
// taken again after each revocation: its key (slot) and that key's
// watcher are reused.
func BenchmarkRevocationDetection(b *testing.B) {
	s := benchServer(b)
	raw := rawClient(b, s)
	for _, tc := range []struct {
		name     string
		held     int
		sameName bool
	}{{"held=0", 0, false}, {"held=100", 100, false}, {"same-name", 0, true}} {
		held := tc.held
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			c := open(b, testURL(s), "a")
			for i := range held {
				if err := c.Lock(fmt.Sprintf("other-%d", i)).Acquire(ctx); err != nil {
					b.Fatal(err)
				}
			}
			d := c.Driver().(*conn)
			var total time.Duration
			for i := 0; b.Loop(); i++ {
				name := fmt.Sprintf("revoked-%d", i)
				if tc.sameName {
					name = "revoked"
				}
				l := c.Lock(name)
				if err := l.Acquire(ctx); err != nil {
					b.Fatal(err)
				}
				resp, err := raw.Get(ctx, d.keys.resource(tooz.Resource{Kind: tooz.KindLock, Name: l.Name()}), clientv3.WithPrefix(), clientv3.WithKeysOnly())
				if err != nil || len(resp.Kvs) != 1 {
					b.Fatalf("owner key: %v %v", resp, err)
				}
				if _, err := raw.Delete(ctx, string(resp.Kvs[0].Key)); err != nil {
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
