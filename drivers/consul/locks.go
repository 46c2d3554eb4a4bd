// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
)

// contenderRecord is the value of owner and queue keys.
type contenderRecord struct {
	Member    string `json:"member"`
	Contender string `json:"contender"`
}

func encodeContender(member, contender string) []byte {
	b, err := json.Marshal(contenderRecord{Member: member, Contender: contender})
	if err != nil {
		panic("tooz/consul: " + err.Error()) // strings always marshal
	}
	return b
}

func decodeContender(b []byte) (contenderRecord, error) {
	var r contenderRecord
	if err := json.Unmarshal(b, &r); err != nil || r.Contender == "" || tooz.ValidateID(r.Member) != nil {
		return contenderRecord{}, fmt.Errorf("malformed owner record %q", b)
	}
	return r, nil
}

// resBase is the prefix of res's keys; locks and elections are apart.
func (d *conn) resBase(res tooz.Resource) string {
	kind := "locks"
	if res.Kind == tooz.KindElection {
		kind = "elections"
	}
	return d.ns + "/" + kind + "/" + keyspace.Escape(res.Name) + "/"
}

const (
	ownerName   = "owner"
	queuePrefix = "q/"
)

// resState is one reading of a resource's keys.
type resState struct {
	owner *api.KVPair
	rec   contenderRecord // the owner's record, when owner is set
	queue []*api.KVPair   // queued contenders, oldest first
}

func parseRes(base string, pairs []*api.KVPair) resState {
	var st resState
	for _, p := range pairs {
		if p == nil {
			continue
		}
		name := strings.TrimPrefix(p.Key, base)
		switch {
		case name == ownerName:
			st.owner = p
			st.rec, _ = decodeContender(p.Value)
		case strings.HasPrefix(name, queuePrefix) && p.Session != "":
			st.queue = append(st.queue, p)
		}
	}
	sort.Slice(st.queue, func(i, j int) bool { return st.queue[i].CreateIndex < st.queue[j].CreateIndex })
	return st
}

// Errors of takeOwner that are not failures.
var (
	errHeld      = errors.New("owner key held")
	errLockDelay = errors.New("owner key in its lock-delay")
	errDequeued  = errors.New("queue entry gone")
	errNotHead   = errors.New("a queue entry ahead is still there")
)

// maxAhead bounds the queue entries a hand-over's transaction checks
// (Consul takes at most 64 operations in one transaction).
const maxAhead = 60

// Acquire implements tooz.CoordinationDriver.
func (d *conn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	s, err := d.live()
	if err != nil {
		return nil, err
	}
	base := d.resBase(res)
	cid := driverkit.NewID()
	val := encodeContender(d.member, cid)
	// When waiting, this reading only picks the path (the transactions
	// below check what matters), so the leader's view will do, without a
	// quorum round. Without waiting it decides "not acquired": consistent.
	q := (&api.QueryOptions{}).WithContext(ctx)
	if !wait {
		q = d.strong(ctx)
	}
	pairs, err := d.firstRead(ctx, s, base, q, wait)
	if err != nil {
		return nil, err
	}
	if st := parseRes(base, pairs); st.owner == nil && len(st.queue) == 0 {
		// Nobody owns or waits: take the owner key directly.
		o, err := d.takeOwner(ctx, s, base, val, cid, "")
		switch {
		case err == nil:
			return o, nil
		case !errors.Is(err, errHeld) && !errors.Is(err, errLockDelay):
			return nil, err
		case !wait:
			return nil, tooz.ErrNotAcquired
		}
	} else if !wait {
		return nil, tooz.ErrNotAcquired
	}
	return d.queue(ctx, s, base, val, cid)
}

// firstRead lists base for Acquire. A waiting acquisition rides out
// failed reads as its queue does (backing off until ctx or the session
// ends): one failed HTTP exchange — a connection the agent closed, or a
// cancellation net/http reported for a request whose context was live —
// must not end a wait the caller bounded by ctx. Without waiting the
// first error is the answer.
func (d *conn) firstRead(ctx context.Context, s *session, base string, q *api.QueryOptions, wait bool) ([]*api.KVPair, error) {
	bo := &driverkit.Backoff{Min: minBackoff, Max: maxBackoff}
	for {
		pairs, _, err := d.kv.List(base, q)
		if err == nil {
			return pairs, nil
		}
		if !wait {
			return nil, d.wrap(ctx, "acquire", err)
		}
		if ctx.Err() != nil || s.scope.Context().Err() != nil || !bo.Wait(ctx) {
			return nil, d.endWait(ctx, s, "acquire", err, nil)
		}
		d.log.Debug("tooz/consul: reading a lock failed; retrying", "err", d.scrub(err.Error()))
	}
}

// takeOwner acquires base's owner key for contender cid if nobody holds it
// (and, with qKey set, only while s still holds that queue entry, and
// none of the keys ahead exists: the queue entries a waiter last saw
// ahead of its own).
func (d *conn) takeOwner(ctx context.Context, s *session, base string, val []byte, cid, qKey string, ahead ...string) (*ownership, error) {
	ownerKey := base + ownerName
	ops := api.TxnOps{
		kvOp(api.KVCheckNotExists, ownerKey),
		lockOp(ownerKey, val, s.id),
	}
	if qKey != "" {
		ops = append(ops, checkSessionOp(qKey, s.id))
		for _, k := range ahead {
			ops = append(ops, kvOp(api.KVCheckNotExists, k))
		}
	}
	ok, resp, err := d.txn(ctx, ops, nil)
	if err != nil {
		// It may have been applied: make sure the key does not stay ours.
		d.disposeLater(s, cleanup{key: ownerKey, contender: cid})
		return nil, d.wrap(ctx, "acquire", err)
	}
	if !ok {
		switch op, what := txnFailure(resp); {
		case isAuthText(what):
			return nil, fmt.Errorf("consul acquire: %w: %s", tooz.ErrAuth, what)
		case op == 0:
			return nil, errHeld
		case isLockDelay(what):
			return nil, errLockDelay
		case isInvalidSession(what):
			d.kill(s, "the Consul servers invalidated the session", true)
			return nil, fmt.Errorf("%w: %s", tooz.ErrSessionLost, what)
		case op == 1:
			return nil, errHeld
		case op == 2:
			return nil, errDequeued
		case op > 2:
			return nil, errNotHead
		default:
			return nil, fmt.Errorf("consul acquire: %s", what)
		}
	}
	var idx uint64
	for _, r := range resp.Results {
		if r != nil && r.KV != nil && r.KV.Key == ownerKey {
			idx = r.KV.ModifyIndex
		}
	}
	if idx == 0 {
		d.disposeLater(s, cleanup{key: ownerKey, contender: cid})
		return nil, errors.New("consul acquire: no index in the transaction's answer")
	}
	return d.issue(s, ownerKey, qKey, cid, idx)
}

// issue records a new ownership under s, unless s died meanwhile.
func (d *conn) issue(s *session, ownerKey, qKey, cid string, idx uint64) (*ownership, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.dead {
		if d.closed {
			return nil, tooz.ErrClosed
		}
		return nil, fmt.Errorf("%w: %s", tooz.ErrSessionLost, s.why)
	}
	o := &ownership{Hold: s.scope.Hold(), d: d, s: s, ownerKey: ownerKey, qKey: qKey, cid: cid, token: idx}
	d.startMonitorLocked(s)
	d.follow(o)
	return o, nil
}

// watchOwned ends o (its Lost closes) when its owner key is deleted or
// released while its session lives: the ownership was revoked out of band
// (an operator's consul kv delete, a tool), and another contender may own
// the resource already. It follows the key with blocking queries, confirms
// with a consistent read, and stops when o or its session ends.
func (d *conn) watchOwned(o *ownership) {
	ctx, cancel := context.WithCancel(o.s.scope.Context())
	defer cancel()
	// When o ends its owner key has changed or is about to (a release
	// deletes it), and that ends the blocking query by itself. Cancelling
	// the query as its answer arrives can break the client's connection
	// pool: a 404 has no body, net/http pools the connection before the
	// caller sees the answer, and a cancellation in that window closes the
	// pooled connection with the cancellation as its error, which the
	// next request on it (any caller's, on a shared api.Client) reports
	// as a spurious "context canceled" (reproduced on Go 1.26). So the
	// query is cancelled only if it is still waiting a moment after o
	// ended; Close ends it at once through the session.
	stop := context.AfterFunc(o.Context(), func() { time.AfterFunc(ownerWatchGrace, cancel) })
	defer stop()
	gone := func(p *api.KVPair) bool { return p == nil || p.Session != o.s.id }
	index := o.token
	bo := &driverkit.Backoff{Min: minBackoff, Max: maxBackoff}
	for ctx.Err() == nil && !o.Ended() {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: blockWait}
		began := time.Now()
		p, meta, err := d.client.KV().Get(o.ownerKey, q.WithContext(ctx))
		if o.Ended() {
			return
		}
		if err == nil && gone(p) {
			p, meta, err = d.client.KV().Get(o.ownerKey, d.strong(ctx))
			if err == nil && gone(p) {
				d.revoked(ctx, o)
				return
			}
		}
		if err != nil {
			if ctx.Err() != nil || !bo.Wait(ctx) {
				return
			}
			continue
		}
		bo.Reset()
		if abandoned(index, meta.LastIndex, began) {
			index = 0
			continue
		}
		index = nextIndex(index, meta.LastIndex)
	}
}

// enqueue adds key (a contender of session s, with value val) and, in the
// same transaction, lists base. When the answer is lost the key may have
// been added: it is withdrawn at once when ctx or the session ended, else
// after the next heartbeat. wctx is ctx ended with the session too.
func (d *conn) enqueue(ctx, wctx context.Context, s *session, key string, val []byte, base string) (*api.TxnResponse, error) {
	ok, resp, err := d.txn(wctx, api.TxnOps{
		lockOp(key, val, s.id),
		{KV: &api.KVTxnOp{Verb: api.KVGetTree, Key: base}},
	}, nil)
	if err != nil {
		// The transaction may still be applied: a cancelled HTTP request
		// does not stop the agent from forwarding it to the servers. A
		// deletion now may come before the key exists, so the next
		// heartbeat looks again; until then a key created late holds up
		// the queue behind it (seen through a client agent: the next
		// contender waited for good).
		if ctx.Err() != nil || s.scope.Context().Err() != nil {
			d.dispose(s, cleanup{key: key})
		}
		d.disposeLater(s, cleanup{key: key})
		return nil, d.endWait(ctx, s, "acquire", err, nil)
	}
	if !ok {
		_, what := txnFailure(resp)
		switch {
		case isAuthText(what):
			return nil, fmt.Errorf("consul acquire: %w: %s", tooz.ErrAuth, what)
		case isInvalidSession(what):
			d.kill(s, "the Consul servers invalidated the session", true)
			return nil, fmt.Errorf("%w: %s", tooz.ErrSessionLost, what)
		}
		return nil, fmt.Errorf("consul acquire: %s", what)
	}
	return resp, nil
}

// queue waits in line for base: it adds a queue key of its own and waits
// on its predecessor only (the head waits on the owner key), until it is
// the head and takes the owner key, ctx ends (it withdraws) or the session
// dies.
func (d *conn) queue(ctx context.Context, s *session, base string, val []byte, cid string) (tooz.Ownership, error) {
	// wctx ends with ctx and with the session.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.scope.Context(), cancel)
	defer stop()

	qKey := base + queuePrefix + cid
	ownerKey := base + ownerName
	withdraw := func() { d.dispose(s, cleanup{key: qKey}) }
	resp, err := d.enqueue(ctx, wctx, s, qKey, val, base)
	if err != nil {
		return nil, err
	}
	var tree []*api.KVPair
	for _, r := range resp.Results[1:] {
		if r != nil && r.KV != nil {
			tree = append(tree, r.KV)
		}
	}
	bo := &driverkit.Backoff{Min: minBackoff, Max: maxBackoff}
	for {
		st := parseRes(base, tree)
		pos := -1
		for i, p := range st.queue {
			if p.Key == qKey {
				pos = i
				break
			}
		}
		if st.owner != nil && st.rec.Contender == cid {
			return d.issue(s, ownerKey, qKey, cid, st.owner.ModifyIndex)
		}
		if pos < 0 {
			// Our entry vanished: the session was invalidated (or someone
			// deleted it); either way we are no contender any more.
			if err := d.endWait(ctx, s, "acquire", nil, nil); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: the queue entry of this contender vanished", tooz.ErrSessionLost)
		}
		var (
			waitKey   string
			waitIndex uint64
			take      bool     // try to take the owner key
			ahead     []string // the queue entries that must be gone for it
		)
		switch {
		case pos > 0:
			waitKey, waitIndex = st.queue[pos-1].Key, st.queue[pos-1].ModifyIndex
		case st.owner != nil:
			waitKey, waitIndex = ownerKey, st.owner.ModifyIndex
		default:
			take = true
		}
		if waitKey != "" {
			q := &api.QueryOptions{WaitIndex: waitIndex, WaitTime: blockWait}
			p, _, err := d.kv.Get(waitKey, q.WithContext(wctx))
			switch {
			case err != nil:
				if wctx.Err() != nil || !bo.Wait(wctx) {
					return nil, d.endWait(ctx, s, "acquire", err, withdraw)
				}
				d.log.Debug("tooz/consul: waiting for a lock failed; retrying", "err", d.scrub(err.Error()))
			case p == nil && pos <= maxAhead:
				// The key waited on is gone. In a hand-over it went with
				// the release of the holder just ahead, after every
				// entry ahead of that one: take the owner key at once,
				// checking in the same transaction that it is free and
				// that the entries last seen ahead are gone (nobody joins
				// the queue ahead of an entry), instead of listing first.
				// One round trip less per hand-over; if a check fails,
				// list as before.
				take = true
				for _, e := range st.queue[:max(pos-1, 0)] {
					ahead = append(ahead, e.Key)
				}
			}
		}
		if take {
			o, err := d.takeOwner(wctx, s, base, val, cid, qKey, ahead...)
			switch {
			case err == nil:
				return o, nil
			case errors.Is(err, errHeld), errors.Is(err, errNotHead):
				// Taken by a direct acquisition, or someone is still
				// ahead: read again and wait.
			case errors.Is(err, errLockDelay):
				if !driverkit.Sleep(wctx, lockDelayRetry) {
					return nil, d.endWait(ctx, s, "acquire", wctx.Err(), withdraw)
				}
			case errors.Is(err, errDequeued):
				return nil, fmt.Errorf("%w: the queue entry of this contender vanished", tooz.ErrSessionLost)
			case errors.Is(err, tooz.ErrSessionLost), errors.Is(err, tooz.ErrAuth):
				return nil, err
			default:
				if wctx.Err() != nil || !bo.Wait(wctx) {
					return nil, d.endWait(ctx, s, "acquire", err, withdraw)
				}
			}
		}
		pairs, _, err := d.kv.List(base, d.strong(wctx))
		if err != nil {
			if wctx.Err() != nil || !bo.Wait(wctx) {
				return nil, d.endWait(ctx, s, "acquire", err, withdraw)
			}
			continue // keep the old reading
		}
		bo.Reset()
		tree = pairs
	}
}

// endWait ends a wait that stopped: with ctx's error after withdrawing
// when ctx ended, ErrClosed or ErrSessionLost when the session ended, else
// err wrapped. A nil result means nothing ended.
func (d *conn) endWait(ctx context.Context, s *session, op string, err error, withdraw func()) error {
	if ctx.Err() != nil {
		if withdraw != nil {
			withdraw()
		}
		return ctx.Err()
	}
	if s.scope.Context().Err() != nil {
		if d.isClosed() {
			return tooz.ErrClosed
		}
		d.mu.Lock()
		why := s.why
		d.mu.Unlock()
		return fmt.Errorf("%w: %s", tooz.ErrSessionLost, why)
	}
	if err == nil {
		return nil
	}
	if withdraw != nil {
		withdraw()
	}
	return d.wrap(ctx, op, err)
}

// Owner implements tooz.CoordinationDriver: the member named by the owner key.
func (d *conn) Owner(ctx context.Context, res tooz.Resource) (string, error) {
	if d.isClosed() {
		return "", tooz.ErrClosed
	}
	p, _, err := d.kv.Get(d.resBase(res)+ownerName, d.q(ctx))
	if err != nil {
		return "", d.wrap(ctx, "owner", err)
	}
	if p == nil || p.Session == "" {
		return "", tooz.ErrNoLeader
	}
	rec, err := decodeContender(p.Value)
	if err != nil {
		return "", fmt.Errorf("consul owner: key %q: %w", p.Key, err)
	}
	return rec.Member, nil
}

// ownership is one successful Acquire: the owner key (and the queue key,
// if it waited) held by session s.
type ownership struct {
	*driverkit.Hold // Lost, OnLost; ends with the session's scope
	d               *conn
	s               *session
	ownerKey        string
	qKey            string
	cid             string
	token           uint64 // the owner key's modify index at acquisition
	casIndex        uint64 // the modify index Release checks, when not token (shared.go)
	// releasing is set once Release began: the key's deletion is ours.
	releasing atomic.Bool
}

// FencingToken implements tooz.Ownership.
func (o *ownership) FencingToken() uint64 { return o.token }

// Release implements tooz.Ownership: the owner key is deleted only if it is
// still the one this ownership took (same modify index), with the queue key.
func (o *ownership) Release(ctx context.Context) error {
	if o.Ended() {
		return tooz.ErrLockNotHeld
	}
	o.releasing.Store(true)
	d := o.d
	if d.isClosed() {
		o.end()
		return tooz.ErrClosed
	}
	idx := o.token
	if o.casIndex != 0 {
		idx = o.casIndex
	}
	var (
		ok   bool
		resp *api.TxnResponse
		err  error
	)
	if o.qKey == "" {
		// One key: the KV endpoint's check-and-set delete, lighter on
		// the agent than a transaction of one operation.
		ok, _, err = d.kv.DeleteCAS(&api.KVPair{Key: o.ownerKey, ModifyIndex: idx}, d.w(ctx))
	} else {
		ok, resp, err = d.txn(ctx, api.TxnOps{
			{KV: &api.KVTxnOp{Verb: api.KVDeleteCAS, Key: o.ownerKey, Index: idx}},
			kvOp(api.KVDelete, o.qKey),
		}, nil)
	}
	o.end()
	if err != nil {
		cs := []cleanup{{key: o.ownerKey, contender: o.cid}}
		if o.qKey != "" {
			cs = append(cs, cleanup{key: o.qKey})
		}
		d.disposeLater(o.s, cs...)
		return d.wrap(ctx, "release", err)
	}
	if !ok {
		if o.qKey != "" {
			d.dispose(o.s, cleanup{key: o.qKey})
		}
		_, what := txnFailure(resp)
		if isAuthText(what) {
			return fmt.Errorf("consul release: %w: %s", tooz.ErrAuth, what)
		}
		return fmt.Errorf("%w: Consul no longer records this owner", tooz.ErrLockNotHeld)
	}
	return nil
}
