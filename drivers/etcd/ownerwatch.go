// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"sync"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// WatchLeader needs OwnerWatcher, and the Coordinator follows an
// ownership without a goroutine only through LostNotifier: keep the method
// sets from drifting.
var (
	_ tooz.OwnerWatcher = (*conn)(nil)
	_ tooz.LostNotifier = (*ownership)(nil)
)

// WatchOwner implements tooz.OwnerWatcher with a watch of the resource's
// contender prefix: every put or delete of a contender key may change
// the owner (the key with the lowest create revision), and changed is
// called once per event, also when the server sends several in one
// response. A watch that breaks (compaction, a lost leader) is opened
// again from the current revision, and changed is called once it is in
// place.
func (c *conn) WatchOwner(ctx context.Context, res tooz.Resource, changed func(tooz.OwnerChange)) (func(), error) {
	if c.isClosed() {
		return nil, tooz.ErrClosed
	}
	prefix := c.keys.resource(res)
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	open := func(ctx context.Context) (clientv3.WatchChan, error) {
		ch := c.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		select {
		case wr, ok := <-ch:
			if !ok || wr.Err() != nil || !wr.Created {
				return nil, c.watchErr(ctx, wr, ok)
			}
			return ch, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	ch, err := open(ctx)
	if err != nil {
		cancel()
		return nil, c.fail(ctx, nil, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		retry := driverkit.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
		for {
			for wr := range ch {
				if wr.Err() != nil {
					break
				}
				for range wr.Events {
					changed(tooz.OwnerChange{}) // once per change: see tooz.OwnerWatcher
				}
			}
			for {
				if wctx.Err() != nil {
					return
				}
				var err error
				if ch, err = open(wctx); err == nil {
					break
				}
				if !driverkit.Sleep(wctx, retry.Next()) {
					return
				}
			}
			retry.Reset()
			changed(tooz.OwnerChange{}) // what happened while the watch was down
		}
	}()
	// Stop ends the watch and waits for its goroutine; it may be called again.
	return sync.OnceFunc(func() { cancel(); <-done }), nil
}
