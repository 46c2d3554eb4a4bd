// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toozgo/tooz/internal/driverkit"
)

// LeaderChanged is delivered to WatchLeader hooks: the group's leader, or
// "" when it has none.
type LeaderChanged struct {
	Group  string
	Leader string
}

// OwnerWatcher is implemented by drivers that are told by their backend
// when a resource's owner may have changed (a watch, a blocking query,
// pub/sub, inotify), so that WatchLeader needs no polling.
type OwnerWatcher interface {
	// WatchOwner calls changed whenever res's owner (Owner) may have
	// changed, until stop is called; changed returns at once. It returns
	// once the watch is in place, so that an Owner read after it returns
	// misses no later change. After a lost connection or session the
	// driver calls changed once it is watching again (unless it can tell
	// that nothing changed). A driver that can tell changes apart calls
	// changed once per change, also when one notification of its backend
	// covers several: a candidacy that stood down counts the calls to
	// tell that another member has led (see StandDown). Otherwise a
	// spurious call costs only a read.
	WatchOwner(ctx context.Context, res Resource, changed func(OwnerChange)) (stop func(), err error)
}

// OwnerChange is what an owner watch pushes. The zero value says only
// "the owner may have changed": the Coordinator reads Owner. A watch that
// read the owner itself after the change (a ZooKeeper child list, a
// Consul key) sets Known, Owner (the owner then, "" for none) and ReadAt
// (when it began that read), and the Coordinator then makes no read of
// its own — unless its own last Owner read ended after ReadAt, when the
// pushed owner may be older than what it reported already. A driver sets
// Known only when its read sees every change an Owner call that ended
// before ReadAt saw (the same session, in order).
type OwnerChange struct {
	Owner  string
	Known  bool
	ReadAt time.Time
}

// WatchLeader calls fn with group's leader ("" for none) before it
// returns, then after every change, for any group, led or not, campaigned
// for by this coordinator or not, and whether the group exists or not. It
// is pushed by the backend (no polling): each push is followed by one read
// of the leader, so a leadership shorter than that read may be missed, and
// fn is never called twice in a row with the same leader. fn runs on a
// goroutine of the watch, also under WithExplicitWatchers; calls never
// overlap. It fails with ErrNotSupported when the driver cannot push owner
// changes (see OwnerWatcher).
func (c *Coordinator) WatchLeader(ctx context.Context, group string, fn func(LeaderChanged)) (*Watch, error) {
	const op = "watch leader"
	if err := validate(op, group, "", "", group); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, wrap(err, op, group, "", "")
	}
	ow, ok := c.drv.(OwnerWatcher)
	if !ok {
		return nil, wrap(ErrNotSupported, op, group, "", "")
	}
	f := newFeed(c)
	var pushed atomic.Pointer[OwnerChange] // the latest push not yet read
	stopDrv, err := ow.WatchOwner(ctx, electionOf(group), func(ch OwnerChange) {
		pushed.Store(&ch)
		f.poke()
	})
	if err != nil {
		return nil, wrap(err, op, group, "", "")
	}
	read := func(ctx context.Context) (string, error) {
		id, err := c.drv.Owner(ctx, electionOf(group))
		if errors.Is(err, ErrNoLeader) {
			return "", nil
		}
		return id, err
	}
	first, err := read(ctx)
	if err != nil {
		stopDrv()
		return nil, wrap(err, op, group, "", "")
	}
	lastRead := time.Now()
	fn(LeaderChanged{Group: group, Leader: first})
	if !f.start(stopDrv) {
		return nil, wrap(ErrClosed, op, group, "", "")
	}
	go func() {
		defer c.wg.Done()
		defer stopDrv()
		last := first
		retry := driverkit.Backoff{Min: minRetry, Max: maxRetry}
		for f.next() {
			var id string
			var err error
			if ch := pushed.Swap(nil); ch != nil && ch.Known && ch.ReadAt.After(lastRead) {
				id = ch.Owner
			} else {
				rctx, cancel := context.WithTimeout(f.ctx, max(c.timeout, time.Second))
				id, err = read(rctx)
				cancel()
				lastRead = time.Now()
			}
			if err != nil {
				if f.ctx.Err() == nil {
					c.log.Warn("tooz: reading the leader after a change failed; retrying", "group", group, "err", err)
					if driverkit.Sleep(f.ctx, retry.Next()) {
						f.poke()
					}
				}
				continue
			}
			retry.Reset()
			if id != last {
				last = id
				c.obs.LeaderChanged(c.scheme, group, id)
				f.call(func() { fn(LeaderChanged{Group: group, Leader: id}) })
			}
		}
	}()
	return &Watch{stop: f.stop}, nil
}

// feed runs a watch's reads and hook calls on one goroutine: the driver
// pokes it, Stop and Close end it, and no hook call starts after Stop
// returns (Stop may be called from within the hook).
type feed struct {
	c      *Coordinator
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}

	mu      sync.Mutex // guards stopped, and a call's start against Stop
	stopped bool
}

func newFeed(c *Coordinator) *feed {
	ctx, cancel := context.WithCancel(context.Background())
	return &feed{c: c, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1)}
}

// poke asks for another read; it never blocks.
func (f *feed) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// start counts the feed's goroutine in the coordinator's, or reports
// false (and gives up) when the coordinator has closed.
func (f *feed) start(stopDrv func()) bool {
	if !f.c.enter() {
		f.cancel()
		stopDrv()
		return false
	}
	return true
}

// next waits for a poke; false once the feed is stopped or the
// coordinator closes.
func (f *feed) next() bool {
	select {
	case <-f.wake:
		return f.ctx.Err() == nil
	case <-f.ctx.Done():
	case <-f.c.closing:
	}
	return false
}

// call runs fn unless the feed was stopped.
func (f *feed) call(fn func()) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	fn()
}

func (f *feed) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	f.cancel()
}
