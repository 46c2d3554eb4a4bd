// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// laggingWatcher opens every watch that names no start revision at
// revision from instead, as a member that has not yet applied the
// revisions after from does. After it passed on a response with a
// deletion, it offers an empty response: kept reports whether the reader
// took it (it went on waiting) or closed the watch (it was done).
type laggingWatcher struct {
	clientv3.Watcher
	from atomic.Int64
	kept chan bool
}

func (w *laggingWatcher) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	from := w.from.Load()
	if from == 0 || clientv3.OpGet(key, opts...).Rev() != 0 {
		return w.Watcher.Watch(ctx, key, opts...)
	}
	in := w.Watcher.Watch(ctx, key, append(opts, clientv3.WithRev(from))...)
	out := make(chan clientv3.WatchResponse)
	go func() {
		defer close(out)
		for wr := range in {
			select {
			case out <- wr:
			case <-ctx.Done():
				return
			}
			if !hasDelete(wr.Events) {
				continue
			}
			select {
			case out <- clientv3.WatchResponse{Header: wr.Header}:
				w.kept <- true
			case <-ctx.Done():
				w.kept <- false
				return
			}
		}
	}()
	return out
}

// TestWaiterIgnoresEarlierKeyOfSameName: a waiter's predecessor is a key
// whose name was used before (contender slots are reused), and the watch
// on it reaches a member lagging behind the waiter's read, so it reports
// the deletion of the earlier key. The waiter must not take that for its
// predecessor's release: that granted a lock to two holders in the
// cluster fault tier (overlap of tokens 53 and 51 after a quorum loss).
func TestWaiterIgnoresEarlierKeyOfSameName(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	ns := testutil.Unique("ns")
	a := open(t, "etcd://"+s.Addr+"?namespace="+ns, "a")
	cli := rawClient(t, s)
	lag := &laggingWatcher{Watcher: cli.Watcher, kept: make(chan bool, 1)}
	cli.Watcher = lag
	b, err := Open(ctx, cli, "etcd://?namespace="+ns, "b", tooz.WithTimeout(testTimeout))
	testutil.Must(t, err, "open b on the lagging client")
	t.Cleanup(func() { b.Close(context.Background()) })

	name := testutil.Unique("lock")
	la, lb := a.Lock(name), b.Lock(name)
	testutil.Must(t, la.Acquire(ctx), "a acquires")
	first := la.FencingToken()
	testutil.Must(t, la.Release(ctx), "a releases")
	testutil.Must(t, la.Acquire(ctx), "a acquires again, on the same key name")
	second := la.FencingToken()
	if second <= first {
		t.Fatalf("a's second token %d is not above its first %d", second, first)
	}

	lag.from.Store(int64(first) + 1) // b's watches see a's release of its first key
	got := make(chan error, 1)
	go func() { got <- lb.Acquire(ctx) }()
	select {
	case kept := <-lag.kept:
		if !kept {
			t.Fatal("b stopped waiting on the deletion of a's earlier key: granted while a holds")
		}
	case err := <-got:
		t.Fatalf("b's Acquire returned %v while a holds", err)
	case <-ctx.Done():
		t.Fatal("b's watch never reported the earlier deletion")
	}
	testutil.Must(t, la.Release(ctx), "a releases")
	select {
	case err := <-got:
		testutil.Must(t, err, "b acquires after a released")
	case <-ctx.Done():
		t.Fatal("b did not acquire after a released")
	}
	if lb.FencingToken() <= second {
		t.Errorf("b's token %d is not above a's %d", lb.FencingToken(), second)
	}
	testutil.Must(t, lb.Release(ctx), "b releases")
}
