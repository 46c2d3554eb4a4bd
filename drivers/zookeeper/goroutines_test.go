// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"runtime/metrics"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// goroutinesCreated is how many goroutines the process has started.
func goroutinesCreated(t *testing.T) uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("this Go runtime does not count the goroutines it starts (%s)", s[0].Name)
	}
	return s[0].Value.Uint64()
}

// TestAcquireWaitsOnOneGoroutine: go-zookeeper's calls take no context, so
// a request whose context can end waits for the client on a goroutine of
// its own. An uncontended acquisition's create and first listing share
// one: each goroutine and hand-off is CPU that 32 workers on 2 cores turn
// into lost throughput (BENCHMARKS.md, ZooKeeper's 32×32 gap).
func TestAcquireWaitsOnOneGoroutine(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute) // can end: the calls take the goroutine path
	c := open(t, "zookeeper://"+srv.Addr+"/goroutines", "a")
	l := c.Lock(unique("l"))
	testutil.Must(t, l.Acquire(ctx), "acquire") // the lock's directory exists from here on
	testutil.Must(t, l.Release(ctx), "release")
	// The count is the process's: other tests' leftovers add to it now
	// and then, so the quietest of several batches is the one judged.
	const batches, cycles = 10, 10
	least := uint64(1 << 63)
	for range batches {
		var started uint64
		for range cycles {
			before := goroutinesCreated(t)
			testutil.Must(t, l.Acquire(ctx), "acquire")
			started += goroutinesCreated(t) - before
			testutil.Must(t, l.Release(ctx), "release")
		}
		least = min(least, started)
	}
	if least == 0 {
		t.Fatalf("%d acquisitions with a context that can end started no goroutine: the check no longer measures the path it pins", cycles)
	}
	if least > cycles+cycles/5 {
		t.Fatalf("the quietest batch of %d uncontended acquisitions started %d goroutines, want one each (the create and the first listing on one)", cycles, least)
	}
	t.Logf("the quietest batch of %d uncontended acquisitions started %d goroutines", cycles, least)
}
