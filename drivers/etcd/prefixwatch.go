// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// follower says what a prefix watch follows: group memberships or keys.
type follower struct {
	prefix string
	what   string // for log lines
	// relist lists the prefix, gives the sink a snapshot, and returns the
	// revision of the listing.
	relist func(ctx context.Context) (int64, error)
	// apply reports one change to the sink.
	apply func(ev *clientv3.Event)
}

// prefixWatch is one running watch of a prefix.
type prefixWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu        sync.Mutex
	stream    func() // ends the current etcd watch stream (tests break it)
	breakNext bool   // a break asked for between two streams: the next one ends at once
}

// stop ends the watch and waits for its goroutine; after it returns the
// sink is not called again.
func (w *prefixWatch) stop() {
	w.once.Do(w.cancel)
	<-w.done
}

// watchPrefix lists f's prefix at revision R, then follows an etcd watch
// from R+1. When the watch breaks (lost leader, cancelled by the server)
// it resumes from the last revision it saw, as etcd's client does after a
// reconnect; when that revision was compacted, or the resumed watch breaks
// again at once, the prefix is listed anew and the sink given a new
// snapshot, so nothing is lost or doubled.
func (c *conn) watchPrefix(ctx context.Context, f follower) (func(), error) {
	if c.isClosed() {
		return nil, tooz.ErrClosed
	}
	rev, err := f.relist(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	w := &prefixWatch{cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return nil, tooz.ErrClosed
	}
	c.watches[w] = struct{}{}
	c.mu.Unlock()
	go func() {
		defer close(w.done)
		c.follow(wctx, w, f, rev)
	}()
	return func() {
		w.stop()
		c.mu.Lock()
		delete(c.watches, w)
		c.mu.Unlock()
	}, nil
}

// Back-off between attempts to list a prefix again after its watch broke.
const (
	minRelistDelay = 50 * time.Millisecond
	maxRelistDelay = 2 * time.Second
)

// follow runs a prefix watch until ctx ends.
func (c *conn) follow(ctx context.Context, w *prefixWatch, f follower, rev int64) {
	fails := 0
	resumed := false
	for {
		if h := c.testHookWatch.Load(); h != nil {
			(*h)(rev)
		}
		start := time.Now()
		last, err := c.watchFrom(ctx, w, f, rev)
		if ctx.Err() != nil {
			return
		}
		rev = last
		if time.Since(start) > maxRelistDelay {
			fails, resumed = 0, false // the watch worked for a while: not a tight failure loop
		}
		if !resumed && !errors.Is(err, rpctypes.ErrCompacted) {
			resumed = true
			c.log.Info("tooz/etcd: watch broke; resuming it", "what", f.what, "prefix", f.prefix, "rev", rev, "err", err)
			continue
		}
		resumed = false
		c.log.Info("tooz/etcd: watch lost its history; listing again", "what", f.what, "prefix", f.prefix, "err", err)
		for {
			if fails > 0 && !driverkit.Sleep(ctx, min(minRelistDelay<<min(fails-1, 8), maxRelistDelay)) {
				return
			}
			fails++
			r, err := f.relist(ctx)
			if err == nil {
				rev = r
				break
			}
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("tooz/etcd: cannot list a prefix to resume its watch; retrying", "what", f.what, "prefix", f.prefix, "err", err)
		}
	}
}

// errWatchClosed reports a watch channel that closed while its context was live.
var errWatchClosed = errors.New("watch channel closed")

// watchFrom reports the changes after revision rev until the watch breaks;
// it returns the last revision it reported (rev if none) and why it broke.
func (c *conn) watchFrom(ctx context.Context, w *prefixWatch, f follower, rev int64) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	broken := make(chan struct{})
	var once sync.Once
	w.mu.Lock()
	w.stream = func() { once.Do(func() { close(broken) }) }
	if w.breakNext {
		w.breakNext = false
		w.stream()
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.stream = nil
		w.mu.Unlock()
	}()
	ch := c.cli.Watch(wctx, f.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for {
		select {
		case <-broken:
			return rev, errWatchClosed
		case wr, ok := <-ch:
			if !ok {
				return rev, errWatchClosed
			}
			if err := wr.Err(); err != nil {
				return rev, err // compacted (wr.CompactRevision), no leader, cancelled by the server
			}
			for _, ev := range wr.Events {
				f.apply(ev)
				rev = max(rev, ev.Kv.ModRevision)
			}
		}
	}
}

// breakStreams ends every watch's current etcd stream, as a lost
// connection would: each resumes from the last revision it saw. For tests.
func (c *conn) breakStreams() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.watches {
		w.mu.Lock()
		if w.stream != nil {
			w.stream()
		} else {
			w.breakNext = true
		}
		w.mu.Unlock()
	}
}
