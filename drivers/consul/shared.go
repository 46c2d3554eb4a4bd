// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/sharerec"
)

// Semaphores and read/write locks (tooz.SharedAcquirer).
//
// A contender is a key NS/semaphores/S/ID (NS/rwlocks/L/ID) acquired by the
// coordinator's session, so Consul deletes it with the session; its value
// is a sharerec record (share and member ID). The queue is in creation
// index order and tooz.Share.Holds decides who holds; the fencing token is
// the key's creation index. Acquiring is one transaction (acquire the key,
// read the queue). A waiter blocks on one key, never on the prefix unless
// it is a semaphore's first waiter: an exclusive waiter on its predecessor,
// a shared waiter of a read/write lock on the newest exclusive contender
// ahead of it (when that was the only one, its deletion makes the waiter
// hold without reading the queue again), any other semaphore waiter on its
// predecessor, which sets its key's flags when it gets its permit. Unlike
// consul/api's Semaphore, whose waiters all block on the prefix and
// compete to update one holders record, a freed permit wakes one waiter.
// Keys without a session or whose value is not a record are ignored with a
// log line; an operator removes one with consul kv delete.

// sharedBase is the prefix of a semaphore's or read/write lock's contenders.
func (d *conn) sharedBase(res tooz.Resource) string {
	return d.ns + "/" + sharerec.Space(res.Kind) + "/" + keyspace.Escape(res.Name) + "/"
}

// sentry is one contender key of a reading.
type sentry struct {
	p     *api.KVPair
	share tooz.Share
}

// squeue decodes a reading of base, in creation order, logging what it ignores.
func (d *conn) squeue(base string, pairs []*api.KVPair) []sentry {
	q := make([]sentry, 0, len(pairs))
	for _, p := range pairs {
		if p == nil || !strings.HasPrefix(p.Key, base) {
			continue
		}
		sh, _, err := sharerec.Decode(string(p.Value))
		switch {
		case err != nil:
			d.log.Warn("tooz/consul: ignoring a key that is no contender record; delete it with consul kv delete", "key", p.Key, "err", err)
			continue
		case p.Session == "":
			continue // its session ended: Consul is deleting it
		}
		q = append(q, sentry{p: p, share: sh})
	}
	slices.SortFunc(q, func(a, b sentry) int {
		switch {
		case a.p.CreateIndex < b.p.CreateIndex:
			return -1
		case a.p.CreateIndex > b.p.CreateIndex:
			return 1
		}
		return 0
	})
	return q
}

// AcquireShared implements tooz.SharedAcquirer.
func (d *conn) AcquireShared(ctx context.Context, res tooz.Resource, sh tooz.Share, wait bool) (tooz.Ownership, error) {
	s, err := d.live()
	if err != nil {
		return nil, err
	}
	base := d.sharedBase(res)
	key := base + driverkit.NewID()
	val := []byte(sharerec.Encode(sh, d.member))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.scope.Context(), cancel)
	defer stop()
	withdraw := func() { d.dispose(s, cleanup{key: key}) }
	resp, err := d.enqueue(ctx, wctx, s, key, val, base)
	if err != nil {
		return nil, err
	}
	var (
		tree  []*api.KVPair
		index uint64 // of the reading, for a blocking query on the prefix
	)
	for _, r := range resp.Results[1:] { // [0] is the acquisition
		if r != nil && r.KV != nil {
			index = max(index, r.KV.ModifyIndex)
			tree = append(tree, r.KV)
		}
	}
	first, waited := true, false
	bo := &driverkit.Backoff{Min: minBackoff, Max: maxBackoff}
	for {
		q := d.squeue(base, tree)
		i := slices.IndexFunc(q, func(e sentry) bool { return e.p.Key == key })
		if i < 0 {
			if err := d.endWait(ctx, s, "acquire", nil, nil); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: the key of this contender vanished", tooz.ErrSessionLost)
		}
		ahead := make([]tooz.Share, i)
		for j := range i {
			ahead[j] = q[j].share
		}
		if first {
			first = false
			if err := sh.Agrees(ahead); err != nil {
				withdraw()
				return nil, err
			}
		}
		if sh.Holds(ahead) {
			return d.issueShared(ctx, s, key, q[i].p, waited && sh.Limit > 0)
		}
		if !wait {
			withdraw()
			return nil, tooz.ErrNotAcquired
		}
		waited = true
		// What to block on, and whether its deletion alone makes us hold.
		var (
			target *api.KVPair
			direct bool
		)
		switch {
		case sh.Exclusive:
			target, direct = q[i-1].p, i == 1
		case sh.Limit == 0:
			n := 0
			for _, e := range q[:i] {
				if e.share.Exclusive {
					target, n = e.p, n+1
				}
			}
			direct = n == 1
		case i > sh.Limit:
			target = q[i-1].p
		}
		var werr error
		switch {
		case target == nil:
			// A semaphore's first waiter: any change under the prefix.
			qo := &api.QueryOptions{WaitIndex: index, WaitTime: blockWait}
			_, _, werr = d.kv.Keys(base, "", qo.WithContext(wctx))
		case sh.Limit > 0 && target.Flags != 0:
			// The waiter ahead got its permit already: read again.
		default:
			qo := &api.QueryOptions{WaitIndex: target.ModifyIndex, WaitTime: blockWait}
			var p *api.KVPair
			p, _, werr = d.kv.Get(target.Key, qo.WithContext(wctx))
			if werr == nil && p == nil && direct {
				return d.issueShared(ctx, s, key, q[i].p, false)
			}
		}
		if werr != nil {
			if wctx.Err() != nil || !bo.Wait(wctx) {
				return nil, d.endWait(ctx, s, "acquire", werr, withdraw)
			}
			d.log.Debug("tooz/consul: waiting for a permit failed; retrying", "err", d.scrub(werr.Error()))
		}
		pairs, meta, err := d.kv.List(base, d.strong(wctx))
		if err != nil {
			if wctx.Err() != nil || !bo.Wait(wctx) {
				return nil, d.endWait(ctx, s, "acquire", err, withdraw)
			}
			continue // keep the old reading
		}
		bo.Reset()
		tree = pairs
		index = meta.LastIndex
	}
}

// issueShared records the ownership of a contender key that holds. With
// signal, it first sets the key's flags (keeping its session), which wakes
// the semaphore waiter blocked on it.
func (d *conn) issueShared(ctx context.Context, s *session, key string, p *api.KVPair, signal bool) (tooz.Ownership, error) {
	modify := p.ModifyIndex
	if signal {
		ok, resp, err := d.txn(ctx, api.TxnOps{
			{KV: &api.KVTxnOp{Verb: api.KVLock, Key: key, Value: p.Value, Flags: 1, Session: s.id}},
		}, nil)
		switch {
		case err == nil && ok && len(resp.Results) == 1 && resp.Results[0].KV != nil:
			modify = resp.Results[0].KV.ModifyIndex
		case err == nil && !ok:
			d.dispose(s, cleanup{key: key})
			_, what := txnFailure(resp)
			return nil, fmt.Errorf("%w: %s", tooz.ErrSessionLost, what)
		default:
			// Unknown outcome: the key is ours either way, but its
			// modify index is not known to Release. Read it.
			p2, _, rerr := d.kv.Get(key, d.strong(ctx))
			if rerr != nil || p2 == nil || p2.Session != s.id {
				d.disposeLater(s, cleanup{key: key})
				return nil, d.wrap(ctx, "acquire", errors.Join(err, rerr))
			}
			modify = p2.ModifyIndex
		}
	}
	o, err := d.issue(s, key, "", "", p.CreateIndex)
	if err != nil {
		d.dispose(s, cleanup{key: key})
		return nil, err
	}
	o.casIndex = modify
	return o, nil
}

// Holders implements tooz.SharedAcquirer.
func (d *conn) Holders(ctx context.Context, res tooz.Resource) ([]string, error) {
	if d.isClosed() {
		return nil, tooz.ErrClosed
	}
	base := d.sharedBase(res)
	pairs, _, err := d.kv.List(base, d.strong(ctx))
	if err != nil {
		return nil, d.wrap(ctx, "holders", err)
	}
	var (
		ahead []tooz.Share
		ids   []string
	)
	for _, e := range d.squeue(base, pairs) {
		if e.share.Holds(ahead) {
			_, m, _ := sharerec.Decode(string(e.p.Value))
			ids = append(ids, m)
		}
		ahead = append(ahead, e.share)
	}
	return ids, nil
}
