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

// TestOwnerKeyWatcherReused: a lock taken again and again re-creates the
// same contender key (its slot) and reuses that key's watcher. A release's
// own delete never ends the next holding, and an out-of-band delete of a
// later incarnation of the key is still seen.
func TestOwnerKeyWatcherReused(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	raw := rawClient(t, s)
	a := open(t, testURL(s), "a")
	d := a.Driver().(*conn)
	l := a.Lock(testutil.Unique("lock"))
	prefix := d.keys.resource(tooz.Resource{Kind: tooz.KindLock, Name: l.Name()})
	var key string
	for i := range 20 {
		testutil.Must(t, l.Acquire(ctx), "acquire")
		resp, err := raw.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("contender keys: %v %v", resp, err)
		}
		if i == 0 {
			key = string(resp.Kvs[0].Key)
		} else if string(resp.Kvs[0].Key) != key {
			t.Fatalf("cycle %d used key %s, the first %s: the slot was not reused", i, resp.Kvs[0].Key, key)
		}
		if !l.Held() {
			t.Fatalf("cycle %d: the holding ended before its release", i)
		}
		testutil.Must(t, l.Release(ctx), "release")
	}
	d.dw.mu.Lock()
	n := len(d.dw.keys)
	d.dw.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d watchers after 20 cycles of one lock; want the one kept for its key", n)
	}
	testutil.Must(t, l.Acquire(ctx), "acquire")
	if _, err := raw.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	testutil.WaitClosed(t, l.Lost(), testTimeout, "the lock to be reported lost through the reused watcher")
}

// TestDeleteWatchTakeoverSeesEarlierDelete: a key created again and
// deleted before its new user takes over the idle watcher still reports
// that deletion to the new user, whichever of the event and the takeover
// comes first; the earlier user hears of no deletion after it left.
func TestDeleteWatchTakeoverSeesEarlierDelete(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	raw := rawClient(t, s)
	d := open(t, testURL(s), "a").Driver().(*conn)
	key := testutil.Unique("probe")
	put := func() int64 {
		r, err := raw.Put(ctx, key, "x")
		testutil.Must(t, err, "put")
		return r.Header.Revision
	}
	del := func() {
		_, err := raw.Delete(ctx, key)
		testutil.Must(t, err, "delete")
	}
	remove := d.dw.add(key, put(), func() { t.Error("the first user was told of a deletion after it left") })
	remove()
	del() // as a release
	again := put()
	del() // out of band, before the next user comes
	fired := make(chan struct{})
	remove = d.dw.add(key, again, func() { close(fired) })
	defer remove()
	testutil.WaitClosed(t, fired, testTimeout, "the new user to be told of the deletion")
}
