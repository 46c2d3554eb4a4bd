// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestOwnerWatchPushesPerEvent: the owner watch pushes once per event,
// also when etcd sends several in one response (here, one transaction
// deleting two contender keys), so that a candidacy that stood down can
// count changes (see tooz.OwnerWatcher and StandDown).
func TestOwnerWatchPushesPerEvent(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	raw := rawClient(t, s)
	d := open(t, testURL(s), "a").Driver().(*conn)
	res := tooz.Resource{Kind: tooz.KindLock, Name: testutil.Unique("lock")}
	prefix := d.keys.resource(res)
	pushes := make(chan tooz.OwnerChange, 16)
	stop, err := d.WatchOwner(ctx, res, func(oc tooz.OwnerChange) { pushes <- oc })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := raw.Txn(ctx).Then(clientv3.OpPut(prefix+"x_0", "x"), clientv3.OpPut(prefix+"y_0", "y")).Commit(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		select {
		case <-pushes:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d pushes for a response of two events, want 2", i)
		}
	}
}
