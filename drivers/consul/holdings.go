// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz/internal/driverkit"
)

// Following what a session owns: an ownership ends (its Lost closes) when
// its key is deleted or released by someone else while the session lives
// (an operator's consul kv delete, a tool), since another contender may
// own the resource already.
//
// Consul pushes a change only to a blocking query, which holds an HTTP
// connection (net/http's read and write loops) and the goroutine waiting
// for its answer. A session's first soloHoldings ownerships are each
// followed by a query on their own key (watchOwned): precise, and woken by
// nothing else. Those beyond share one query (holdings.follow) on the
// longest common prefix of their keys, so that a coordinator holding
// thousands of locks costs no goroutine and no connection per lock. Its
// price is that every change under that prefix wakes it with a listing of
// the prefix: cheap for keys that share a name prefix (shard-0001,
// shard-0002, …), a whole kind's keys of the namespace when their names
// have nothing in common.

// soloHoldings is how many of a session's ownerships are each followed by
// a blocking query of their own.
const soloHoldings = 8

// holdings is what a session follows with the shared query.
type holdings struct {
	mu     sync.Mutex
	solo   int                   // ownerships followed by a query of their own
	shared map[string]*ownership // the others, by key
	gen    *followGen            // the shared query running, nil when none
}

// followGen is one run of the shared query on one prefix. A key outside
// the prefix starts a new run on a shorter one; the old run is cancelled
// after ownerWatchGrace (see watchOwned for why not at once).
type followGen struct {
	prefix string
	cancel context.CancelFunc
	done   chan struct{} // closed when the run has stopped
}

// follow starts following o, an ownership just issued under its session.
func (d *conn) follow(o *ownership) {
	h := &o.s.holds
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.solo < d.soloHoldings {
		if d.run.Go(func() {
			defer func() {
				h.mu.Lock()
				h.solo--
				h.mu.Unlock()
			}()
			d.watchOwned(o)
		}) {
			h.solo++
		}
		return
	}
	if h.shared == nil {
		h.shared = map[string]*ownership{}
	}
	h.shared[o.ownerKey] = o
	if h.gen != nil && strings.HasPrefix(o.ownerKey, h.gen.prefix) {
		return // the running query covers it
	}
	prefix := o.ownerKey
	for k := range h.shared {
		prefix = commonPrefix(prefix, k)
	}
	ctx, cancel := context.WithCancel(o.s.scope.Context())
	g := &followGen{prefix: prefix, cancel: cancel, done: make(chan struct{})}
	if old := h.gen; old != nil {
		time.AfterFunc(ownerWatchGrace, old.cancel)
	}
	h.gen = g
	if !d.run.Go(func() {
		defer close(g.done)
		defer cancel()
		d.followShared(ctx, o.s, g)
	}) {
		cancel()
		close(g.done)
		h.gen = nil
	}
}

// end ends o and stops following its key. It reports what Hold.End does.
func (o *ownership) end() bool {
	live := o.End()
	h := &o.s.holds
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shared[o.ownerKey] == o {
		delete(h.shared, o.ownerKey)
		if len(h.shared) == 0 && h.gen != nil {
			// Its query ends with the key's deletion, else soon after.
			time.AfterFunc(ownerWatchGrace, h.gen.cancel)
			h.gen = nil
		}
	}
	return live
}

// commonPrefix is the longest prefix of a and b.
func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return a[:i]
		}
	}
	return a[:n]
}

// followShared runs g's blocking queries until g is replaced, its
// ownerships are all gone, or the session ends. Each answer lists g's
// prefix; an ownership whose key is missing from it or held by another
// session is confirmed gone with a consistent read, then ended.
func (d *conn) followShared(ctx context.Context, s *session, g *followGen) {
	h := &s.holds
	var index uint64
	bo := &driverkit.Backoff{Min: minBackoff, Max: maxBackoff}
	for ctx.Err() == nil {
		h.mu.Lock()
		stop := h.gen != g
		h.mu.Unlock()
		if stop {
			return
		}
		q := &api.QueryOptions{WaitIndex: index, WaitTime: blockWait}
		began := time.Now()
		pairs, meta, err := d.kv.List(g.prefix, q.WithContext(ctx))
		if err != nil {
			if ctx.Err() != nil || !bo.Wait(ctx) {
				return
			}
			continue
		}
		bo.Reset()
		if !d.confirmGone(ctx, s, g.prefix, pairs, meta.LastIndex) {
			// A suspect could not be read: list again after a pause.
			if !bo.Wait(ctx) {
				return
			}
			index = 0
			continue
		}
		if abandoned(index, meta.LastIndex, began) {
			index = 0
			continue
		}
		index = nextIndex(index, meta.LastIndex)
	}
}

// confirmGone ends the ownerships under prefix that a listing of it taken
// at index at shows gone, once a consistent read of each agrees. An ownership
// issued after the listing is not judged by it. It reports false when a
// read failed.
func (d *conn) confirmGone(ctx context.Context, s *session, prefix string, pairs api.KVPairs, at uint64) bool {
	held := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		if p != nil && p.Session == s.id {
			held[p.Key] = true
		}
	}
	var suspects []*ownership
	s.holds.mu.Lock()
	for k, o := range s.holds.shared {
		if !held[k] && strings.HasPrefix(k, prefix) && o.token <= at && !o.Ended() && !o.releasing.Load() {
			suspects = append(suspects, o)
		}
	}
	s.holds.mu.Unlock()
	for _, o := range suspects {
		p, _, err := d.kv.Get(o.ownerKey, d.strong(ctx))
		if err != nil {
			return false
		}
		if p == nil || p.Session != s.id {
			d.revoked(ctx, o)
		}
	}
	return true
}

// revoked ends o, whose key another party deleted or released.
func (d *conn) revoked(ctx context.Context, o *ownership) {
	if ctx.Err() != nil || o.releasing.Load() || !o.end() {
		return
	}
	d.log.Warn("tooz/consul: the owner key was deleted or released by someone else; the ownership is lost", "key", o.ownerKey)
	if o.qKey != "" {
		// As Release would: our queue entry, first in line, must not
		// hold the queue up.
		d.dispose(o.s, cleanup{key: o.qKey})
	}
}
