// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
)

// benchStorm is issue 19's scale row: n coordinators (the tier's joins)
// join one group, 8 opened at a time; the first watchers of them (all
// when watchers is 0) watch the group before they join. It reports the
// join storm's wall time, the time until every watcher has seen all n
// members, the client memory and goroutines per coordinator, the server's
// CPU time during the storm, and the CPU that the n idle coordinators
// (heartbeats, watches) then use, client and server, over a quiet window.
// On file:// the storm runs beside abandoned sessions (the tier's list
// size): they must cost nothing once seen dead.
//
// With every coordinator watching, each join is pushed to n watchers: n²
// events in all, which a backend may not absorb on the benchmark machine
// within the coordinators' timeout. In the full tier such a failure is a
// finding, reported in the table, not a failed test.
// stormLimit bounds the joins of a storm, and then the wait for every
// watcher to have seen them.
const stormLimit = 5 * time.Minute

func benchStorm(t *testing.T, tg *target, tr tier, watchers int) {
	n := tr.joins
	if watchers == 0 || watchers > n {
		watchers = n
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, g := unique("ns"), unique("g")
	creator := open(t, tg, ns, "creator")
	if err := creator.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	abandoned := 0
	if tg.name == "file" {
		abandoned = tr.list
		start := time.Now()
		for i := range abandoned {
			c, err := tooz.Open(ctx, tg.url, fmt.Sprintf("dead%05d", i), tooz.WithNamespace(ns), tooz.WithoutHeart())
			if err != nil {
				t.Fatal(err)
			}
			_ = c.Abandon()
		}
		t.Logf("%d coordinators opened and abandoned in %v", abandoned, time.Since(start))
	}

	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	srv0, self0 := serverCPU(tg), processCPU()
	var (
		converged atomic.Int64 // watchers that have seen all n
		all       = make(chan struct{})
		lastSeen  atomic.Int64 // nanoseconds after start
		start     = time.Now()
	)
	watch := func(c *tooz.Coordinator) error {
		var (
			mu   sync.Mutex
			have = map[string]bool{}
			done bool
		)
		_, err := c.WatchMembers(ctx, g, func(e tooz.MembershipEvent) {
			mu.Lock()
			defer mu.Unlock()
			switch e.Kind {
			case tooz.MembershipSnapshot:
				clear(have)
				for _, m := range e.Members {
					have[m.ID] = true
				}
			case tooz.MembershipJoined:
				have[e.Member.ID] = true
			case tooz.MembershipLeft:
				delete(have, e.Member.ID)
			}
			if !done && len(have) >= n {
				done = true
				lastSeen.Store(int64(time.Since(start)))
				if converged.Add(1) == int64(watchers) {
					close(all)
				}
			}
		})
		return err
	}
	coord := make([]*tooz.Coordinator, n)
	t.Cleanup(func() {
		cancel()
		var cw sync.WaitGroup
		for _, c := range coord {
			if c != nil {
				cw.Add(1)
				go func() {
					defer cw.Done()
					cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer ccancel()
					_ = c.Close(cctx)
				}()
			}
		}
		cw.Wait()
	})
	// A storm a backend cannot absorb (Kubernetes with every coordinator
	// watching) would otherwise outlast the run's timeout.
	jctx, jcancel := context.WithTimeout(ctx, stormLimit)
	defer jcancel()
	err := eightAtATime(n, func(i int) error {
		c, err := tooz.Open(jctx, tg.url, fmt.Sprintf("m%05d", i), tooz.WithNamespace(ns), tooz.WithTimeout(10*time.Second))
		if err != nil {
			return err
		}
		coord[i] = c
		if i < watchers {
			if err := watch(c); err != nil {
				return err
			}
		}
		return c.JoinGroup(jctx, g, []byte("capabilities"))
	})
	what := fmt.Sprintf("%d coordinators join one group, %d of them watching it", n, watchers)
	if abandoned > 0 {
		what += fmt.Sprintf(", beside %d abandoned sessions", abandoned)
	}
	// In the full tier a storm the backend cannot absorb on this machine
	// is a failed row, not a failed run: it must not cost every other
	// table. The short tier (CI) asserts that it completes.
	failed := func(why string) {
		if !tr.full {
			t.Fatal(why)
		}
		t.Logf("storm %s", why)
		if len(why) > 200 {
			why = why[:200] + "…"
		}
		results.add(tg.name, row{metric: what, ours: "failed " + why, bar: "completes", verdict: yes(false)})
	}
	if err != nil {
		failed(fmt.Sprintf("after %s, %d of %d watchers having seen all: %v", ms(time.Since(start)), converged.Load(), watchers, err))
		return
	}
	joined := time.Since(start)
	select {
	case <-all:
	case <-time.After(stormLimit):
		failed(fmt.Sprintf("after %v: %d of %d watchers had seen all %d members", stormLimit, converged.Load(), watchers, n))
		return
	}
	seen := time.Duration(lastSeen.Load())
	srv1, self1 := serverCPU(tg), processCPU()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	g1 := runtime.NumGoroutine()

	// A quiet window: nothing changes, n coordinators beat and watch.
	quiet := 3 * time.Second
	if !tr.full {
		quiet = 300 * time.Millisecond
	}
	// From here: the collection above (a heap of n² member views) is not
	// the idle coordinators' cost.
	srvQ, selfQ, q0 := serverCPU(tg), processCPU(), time.Now()
	time.Sleep(quiet) // a measurement window, not a synchronization
	srv2, self2 := serverCPU(tg), processCPU()
	window := time.Since(q0) // a sleep overshoots on a busy machine

	results.add(tg.name, row{metric: what + ": join storm wall time; until every watcher has seen all",
		ours: fmt.Sprintf("%s; %s", ms(joined), ms(seen))})
	mem := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)+int64(m1.StackInuse)-int64(m0.StackInuse)) / 1024 / float64(n)
	results.add(tg.name, row{metric: "… client memory (heap + stacks, after GC) and goroutines per coordinator",
		ours: fmt.Sprintf("%.1f KiB; %.1f", mem, float64(g1-g0)/float64(n))})
	cpu := func(a, b time.Duration, d time.Duration) string {
		if a < 0 || b < 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f s (%.2f cores)", (b - a).Seconds(), (b-a).Seconds()/d.Seconds())
	}
	results.add(tg.name, row{metric: "… CPU during the storm: server; client process",
		ours: fmt.Sprintf("%s; %s", cpu(srv0, srv1, seen), cpu(self0, self1, seen))})
	idle := fmt.Sprintf("%s; %s", cpu(srvQ, srv2, window), cpu(selfQ, self2, window))
	row := row{metric: fmt.Sprintf("… CPU of the %d idle coordinators over %v: server; client process", n, quiet), ours: idle}
	if abandoned > 0 {
		// Issue 19: abandoned sessions must not keep the machine busy.
		per := (self2 - selfQ).Seconds() / window.Seconds()
		row.bar, row.verdict = "well under 1 core", yes(per < 0.5)
	}
	results.add(tg.name, row)
}

// processCPU is this process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is the target's server process's user + system CPU time so
// far, read from /proc (-1 without a server or /proc).
func serverCPU(tg *target) time.Duration {
	if tg.server == nil || tg.server.Pid() == 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tg.server.Pid()))
	if err != nil {
		return -1
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis. utime and stime are fields 14 and 15,
	// in clock ticks of 1/100 s (USER_HZ).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+k) * 10 * time.Millisecond
}
