// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"sync"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// ownerWatch follows one lock's owner for WatchOwner: the scripts publish
// on the lock's channel ("LOCK:o") whenever they grant it or free it, and,
// since Redis pushes nothing when a key expires, a timer fires when the
// holder's lock or session would run out, at the deadline the server
// reports (read again after every message and every firing).
type ownerWatch struct {
	c       *conn
	lk      string
	changed func(tooz.OwnerChange)
	kick    chan struct{}
}

func (w *ownerWatch) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// confirmed implements handler: after a replaced connection, messages
// may have been lost.
func (w *ownerWatch) confirmed(first bool) {
	if !first {
		w.changed(tooz.OwnerChange{})
		w.poke()
	}
}

// message implements handler.
func (w *ownerWatch) message(string) {
	w.changed(tooz.OwnerChange{})
	w.poke()
}

// pending implements handler: nothing is ever pending.
func (w *ownerWatch) pending(context.Context) bool { return true }

// WatchLeader needs OwnerWatcher, and the Coordinator follows an
// ownership without a goroutine only through LostNotifier: keep the method
// sets from drifting.
var (
	_ tooz.OwnerWatcher = (*conn)(nil)
	_ tooz.LostNotifier = (*ownership)(nil)
	_ tooz.LostNotifier = (*sharedOwn)(nil)
)

// WatchOwner implements tooz.OwnerWatcher (see ownerWatch).
func (c *conn) WatchOwner(ctx context.Context, res tooz.Resource, changed func(tooz.OwnerChange)) (func(), error) {
	if _, err := c.current(); err != nil {
		return nil, err
	}
	w := &ownerWatch{c: c, lk: c.lockKey(res), changed: changed, kick: make(chan struct{}, 1)}
	s := newSubscription(c, w.lk+":o", w)
	if err := s.confirm(ctx); err != nil {
		s.close()
		return nil, err
	}
	s.start()
	dctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go w.deadlines(dctx, done)
	// Stop ends the watch and waits for its goroutine; it may be called again.
	return sync.OnceFunc(func() { cancel(); <-done; s.close() }), nil
}

// deadlines calls changed when the current holder's lock or session
// would expire.
func (w *ownerWatch) deadlines(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	retry := driverkit.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	for {
		ms, err := w.c.run(ctx, scriptOwnerDeadline, []string{w.lk}, w.c.p).Int64()
		var fire <-chan time.Time
		var t *time.Timer
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			t = time.NewTimer(retry.Next())
		case ms >= 0:
			retry.Reset()
			t = time.NewTimer(time.Duration(ms)*time.Millisecond + 2*time.Millisecond)
		}
		if t != nil {
			fire = t.C
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case <-w.kick:
		case <-fire:
			if err == nil {
				w.changed(tooz.OwnerChange{})
			}
		}
		if t != nil {
			t.Stop()
		}
	}
}
