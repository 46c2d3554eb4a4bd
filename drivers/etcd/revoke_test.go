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
