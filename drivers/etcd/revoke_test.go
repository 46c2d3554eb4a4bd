// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestOwnerKeyDeletedOutOfBand: an operator deletes a lock's owner key
// (etcdctl del) while the holder's lease lives. The waiter, which watches
// that key, owns at once; the holder must see Lost() within the timeout.
func TestOwnerKeyDeletedOutOfBand(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	raw := rawClient(t, s)
	url := testURL(s)
	name := testutil.Unique("lock")
	la, lb := open(t, url, "a").Lock(name), open(t, url, "b").Lock(name)
	queue := open(t, url, "probe").Driver().(*conn).keys.resource(tooz.Resource{Kind: tooz.KindLock, Name: name})
	testutil.Must(t, la.Acquire(ctx), "a acquires")
	got := make(chan error, 1)
	go func() { got <- lb.Acquire(ctx) }()
	waitUntil(t, 10*time.Second, "b queued", func() bool {
		resp, err := raw.Get(ctx, queue, clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 2
	})
	resp, err := raw.Get(ctx, queue, clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "a" {
		t.Fatalf("owner key: %v %v", resp, err)
	}
	if _, err := raw.Delete(ctx, string(resp.Kvs[0].Key)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		testutil.Must(t, err, "b acquires")
	case <-time.After(10 * time.Second):
		t.Fatal("b did not take over")
	}
	testutil.WaitClosed(t, la.Lost(), testTimeout, "a's lock to be reported lost after its owner key was deleted")
}

// TestOwnerKeyDeletedWhileWatchDown: the owner key is deleted while the
// conn's owner-key watch stream is not up, and the history is compacted
// before it comes: the watcher is refused (compacted) and the read that
// replaces it finds the key gone, so the lock is still reported lost.
func TestOwnerKeyDeletedWhileWatchDown(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	raw := rawClient(t, s)
	a := open(t, testURL(s), "a")
	d := a.Driver().(*conn)
	if d.dw == nil {
		t.Fatal("the conn has no shared owner-key watch")
	}
	hold := make(chan struct{})
	d.dw.testHold.Store(&hold) // the stream waits: the lock's watcher is not created yet
	la := a.Lock(testutil.Unique("lock"))
	testutil.Must(t, la.Acquire(ctx), "a acquires")
	resp, err := raw.Get(ctx, d.keys.resource(tooz.Resource{Kind: tooz.KindLock, Name: la.Name()}), clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("owner key: %v %v", resp, err)
	}
	del, err := raw.Delete(ctx, string(resp.Kvs[0].Key))
	testutil.Must(t, err, "delete the owner key")
	_, err = raw.Put(ctx, testutil.Unique("later"), "x")
	testutil.Must(t, err, "a later write")
	_, err = raw.Compact(ctx, del.Header.Revision+1, clientv3.WithCompactPhysical())
	testutil.Must(t, err, "compact")
	select {
	case <-la.Lost():
		t.Fatal("lost before the watch came up: nothing told it")
	default:
	}
	d.dw.testHold.Store(nil)
	close(hold)
	testutil.WaitClosed(t, la.Lost(), testTimeout, "a's lock to be reported lost once the watch came up on a compacted revision")
}
