// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"slices"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestHandOverFast passes a lock back and forth between two coordinators,
// each time with the other already queued, and measures how long the
// waiter takes to own the lock after the holder's Release returned. A
// waiter watching from a past revision (concurrency.Mutex) is served from
// etcd's unsynced watcher set every 100 ms; ours must not be.
func TestHandOverFast(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	raw := rawClient(t, s)
	url := testURL(s)
	name := testutil.Unique("lock")
	locks := []*tooz.Lock{open(t, url, "a").Lock(name), open(t, url, "b").Lock(name)}
	queue := open(t, url, "probe").Driver().(*conn).keys.resource(tooz.Resource{Kind: tooz.KindLock, Name: name})
	testutil.Must(t, locks[0].Acquire(ctx), "first acquire")
	var took []time.Duration
	for i := range 20 {
		holder, waiter := locks[i%2], locks[(i+1)%2]
		got := make(chan time.Time, 1)
		errc := make(chan error, 1)
		go func() {
			if err := waiter.Acquire(ctx); err != nil {
				errc <- err
				return
			}
			got <- time.Now()
		}()
		waitUntil(t, 10*time.Second, "the waiter queued", func() bool {
			resp, err := raw.Get(ctx, queue, clientv3.WithPrefix(), clientv3.WithCountOnly())
			return err == nil && resp.Count == 2
		})
		testutil.Must(t, holder.Release(ctx), "release")
		released := time.Now()
		select {
		case at := <-got:
			took = append(took, at.Sub(released))
		case err := <-errc:
			t.Fatalf("waiter: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("the waiter did not get the lock")
		}
	}
	slices.Sort(took)
	median := took[len(took)/2]
	t.Logf("hand-over after Release: median %v, max %v", median, took[len(took)-1])
	if median >= 50*time.Millisecond {
		t.Fatalf("median hand-over %v: the waiter is not woken by a synced watch", median)
	}
}
