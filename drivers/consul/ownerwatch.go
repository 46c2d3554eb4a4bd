// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"sync"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// WatchLeader needs OwnerWatcher, and the Coordinator follows an
// ownership without a goroutine only through LostNotifier: keep the method
// sets from drifting.
var (
	_ tooz.OwnerWatcher = (*conn)(nil)
	_ tooz.LostNotifier = (*ownership)(nil)
)

// WatchOwner implements tooz.OwnerWatcher with blocking queries on the
// resource's owner key: each answer with a new index may be a new owner
// (or none). The first query, which returns at once, sets the index, so
// that the watch is in place when WatchOwner returns.
func (d *conn) WatchOwner(ctx context.Context, res tooz.Resource, changed func(tooz.OwnerChange)) (func(), error) {
	if d.isClosed() {
		return nil, tooz.ErrClosed
	}
	key := d.resBase(res) + ownerName
	_, meta, err := d.kv.Get(key, d.q(ctx))
	if err != nil {
		return nil, d.wrap(ctx, "watch owner", err)
	}
	index := meta.LastIndex
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bo := &driverkit.Backoff{Min: minBackoff, Max: maxBackoff}
		for {
			q := d.q(wctx)
			q.WaitIndex, q.WaitTime = index, blockWait
			began := time.Now()
			_, meta, err := d.kv.Get(key, q)
			if err != nil {
				if wctx.Err() != nil || !bo.Wait(wctx) {
					return
				}
				// The key may have changed while the agent was away.
				index = 0
				continue
			}
			bo.Reset()
			if abandoned(index, meta.LastIndex, began) {
				index = 0
				continue
			}
			if meta.LastIndex != index {
				changed(tooz.OwnerChange{})
			}
			index = nextIndex(index, meta.LastIndex)
		}
	}()
	// Stop ends the watch and waits for its goroutine; it may be called again.
	return sync.OnceFunc(func() { cancel(); <-done }), nil
}
