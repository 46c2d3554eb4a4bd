// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/membersink"
	"github.com/toozgo/tooz/internal/record"
)

// deletingName is the key, inside a group's folder, that a DeleteGroup in
// progress holds. Escaped member IDs never contain '.', so it cannot be a member.
const deletingName = ".deleting"

// groupMarker is the value of a group marker key.
var groupMarker = []byte("tooz group")

func (d *conn) groupsPrefix() string { return d.ns + "/groups/" }

// groupKey is the marker key of group g, and the prefix of its members.
func (d *conn) groupKey(g string) string { return d.groupsPrefix() + keyspace.Escape(g) + "/" }

func (d *conn) memberKey(g, m string) string { return d.groupKey(g) + keyspace.Escape(m) }

func (d *conn) deletingKey(g string) string { return d.groupKey(g) + deletingName }

func kvOp(verb api.KVOp, key string) *api.TxnOp {
	return &api.TxnOp{KV: &api.KVTxnOp{Verb: verb, Key: key}}
}

func lockOp(key string, value []byte, session string) *api.TxnOp {
	return &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVLock, Key: key, Value: value, Session: session}}
}

func checkSessionOp(key, session string) *api.TxnOp {
	return &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckSession, Key: key, Session: session}}
}

// CreateGroup implements tooz.CoordinationDriver: the marker key is created
// with a check-and-set on index 0, so exactly one creator wins.
func (d *conn) CreateGroup(ctx context.Context, g string) error {
	if d.isClosed() {
		return tooz.ErrClosed
	}
	ok, _, err := d.kv.CAS(&api.KVPair{Key: d.groupKey(g), Value: groupMarker}, d.w(ctx))
	if err != nil {
		return d.wrap(ctx, "create group", err)
	}
	if !ok {
		return tooz.ErrGroupAlreadyExists
	}
	return nil
}

// DeleteGroup implements tooz.CoordinationDriver. It holds the group's
// .deleting key while it checks that the group is empty and deletes the
// marker; joins check that key does not exist, so none slips in between.
func (d *conn) DeleteGroup(ctx context.Context, g string) error {
	s, err := d.live()
	if err != nil {
		return err
	}
	marker, deleting := d.groupKey(g), d.deletingKey(g)
	for {
		ok, resp, err := d.txn(ctx, api.TxnOps{
			kvOp(api.KVGet, marker),
			kvOp(api.KVCheckNotExists, deleting),
			lockOp(deleting, nil, s.id),
		}, nil)
		if err != nil {
			d.disposeLater(s, cleanup{key: deleting})
			return d.wrap(ctx, "delete group", err)
		}
		if ok {
			break
		}
		switch op, what := txnFailure(resp); {
		case isAuthText(what):
			return fmt.Errorf("consul delete group: %w: %s", tooz.ErrAuth, what)
		case op == 0:
			return tooz.ErrGroupNotCreated
		case op == 1:
			// Another delete is under way: wait for its outcome.
			if err := d.waitGone(ctx, deleting); err != nil {
				return err
			}
		default:
			if err := d.txnRefused(ctx, s, "delete group", what); err != nil {
				return err
			}
		}
	}
	release := func() { d.dispose(s, cleanup{key: deleting}) }
	keys, _, err := d.kv.Keys(marker, "", d.strong(ctx))
	if err != nil {
		release()
		return d.wrap(ctx, "delete group", err)
	}
	for _, k := range keys {
		if k != marker && k != deleting {
			release()
			return tooz.ErrGroupNotEmpty
		}
	}
	ok, resp, err := d.txn(ctx, api.TxnOps{
		checkSessionOp(deleting, s.id),
		kvOp(api.KVDelete, marker),
		kvOp(api.KVDelete, deleting),
	}, nil)
	if err != nil {
		release()
		return d.wrap(ctx, "delete group", err)
	}
	if !ok {
		_, what := txnFailure(resp)
		return fmt.Errorf("%w: lost the group's delete lock: %s", tooz.ErrSessionLost, what)
	}
	return nil
}

// disposeLater queues keys for deletion by the next heartbeat.
func (d *conn) disposeLater(s *session, cs ...cleanup) { s.pending.Add(cs...) }

// waitGone waits with blocking queries until key does not exist.
func (d *conn) waitGone(ctx context.Context, key string) error {
	var index uint64
	bo := &driverkit.Backoff{Min: minBackoff, Max: maxBackoff}
	for {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: blockWait}
		began := time.Now()
		p, meta, err := d.kv.Get(key, q.WithContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !bo.Wait(ctx) {
				return ctx.Err()
			}
			continue
		}
		bo.Reset()
		if p == nil {
			return nil
		}
		if abandoned(index, meta.LastIndex, began) {
			index = 0
			continue
		}
		index = nextIndex(index, meta.LastIndex)
	}
}

// abandoned reports a blocking query that waited past index wait and came
// back early with that same index: Consul does so only when it abandons its
// state store (a snapshot restore), answering from the old one. The caller
// then reads again without waiting.
func abandoned(wait, got uint64, began time.Time) bool {
	return abandonedWithin(wait, got, began, blockWait)
}

// abandonedWithin is abandoned for a query that may wait up to max.
func abandonedWithin(wait, got uint64, began time.Time, limit time.Duration) bool {
	return wait != 0 && got == wait && time.Since(began) < limit/2
}

// watchWait is how long a watch's blocking query waits: twice the
// liveness timeout, from 2s to blockWait. A query sent after a snapshot
// restore waits past an index the servers no longer reach; only its
// timeout shows the index that went backwards, so a watch must not wait
// the full minute to notice.
func (d *conn) watchWait() time.Duration {
	return min(max(2*d.timeout, 2*time.Second), blockWait)
}

// txnRefused handles what any transaction of a session may be refused
// for beside its own checks: the servers invalidated session s (nil: the
// transaction used none), which is lost, or a lock-delay, waited out (nil:
// try again). Anything else is an error naming op.
func (d *conn) txnRefused(ctx context.Context, s *session, op, what string) error {
	switch {
	case s != nil && isInvalidSession(what):
		d.kill(s, "the Consul servers invalidated the session", true)
		return fmt.Errorf("%w: %s", tooz.ErrSessionLost, what)
	case isLockDelay(what):
		if !driverkit.Sleep(ctx, lockDelayRetry) {
			return ctx.Err()
		}
		return nil
	}
	return fmt.Errorf("consul %s: %s", op, what)
}

// lockDelayRetry is how long to wait before retrying an acquisition that a
// lock-delay refused (Consul does not say how long the delay still runs).
const lockDelayRetry = 250 * time.Millisecond

// Groups implements tooz.CoordinationDriver.
func (d *conn) Groups(ctx context.Context) ([]string, error) {
	if d.isClosed() {
		return nil, tooz.ErrClosed
	}
	prefix := d.groupsPrefix()
	keys, _, err := d.kv.Keys(prefix, "/", d.q(ctx))
	if err != nil {
		return nil, d.wrap(ctx, "list groups", err)
	}
	gs := make([]string, 0, len(keys))
	for _, k := range keys {
		seg, ok := strings.CutSuffix(strings.TrimPrefix(k, prefix), "/")
		if !ok {
			continue
		}
		g, err := keyspace.Unescape(seg)
		if err != nil {
			d.log.Warn("tooz/consul: ignoring a foreign key under the groups prefix", "key", k)
			continue
		}
		gs = append(gs, g)
	}
	return gs, nil
}

// JoinGroup implements tooz.CoordinationDriver: one transaction checks that
// the group exists, is not being deleted and does not hold the member, and
// acquires the member key with the session.
func (d *conn) JoinGroup(ctx context.Context, g string, caps []byte) error {
	s, err := d.live()
	if err != nil {
		return err
	}
	now := time.Now()
	val := record.Encode(record.Member{Capabilities: caps, JoinedAt: now, UpdatedAt: now})
	mk := d.memberKey(g, d.member)
	for {
		ok, resp, err := d.txn(ctx, api.TxnOps{
			kvOp(api.KVGet, d.groupKey(g)),
			kvOp(api.KVCheckNotExists, d.deletingKey(g)),
			kvOp(api.KVCheckNotExists, mk),
			lockOp(mk, val, s.id),
		}, nil)
		if err != nil {
			return d.wrap(ctx, "join group", err)
		}
		if ok {
			return nil
		}
		switch op, what := txnFailure(resp); {
		case isAuthText(what):
			return fmt.Errorf("consul join group: %w: %s", tooz.ErrAuth, what)
		case op == 0:
			return tooz.ErrGroupNotCreated
		case op == 1:
			if err := d.waitGone(ctx, d.deletingKey(g)); err != nil {
				return err
			}
		case op == 2:
			return tooz.ErrMemberAlreadyJoined
		default:
			if err := d.txnRefused(ctx, s, "join group", what); err != nil {
				return err
			}
		}
	}
}

// LeaveGroup implements tooz.CoordinationDriver.
func (d *conn) LeaveGroup(ctx context.Context, g string) error {
	s, err := d.live()
	if err != nil {
		return err
	}
	mk := d.memberKey(g, d.member)
	ok, resp, err := d.txn(ctx, api.TxnOps{
		kvOp(api.KVGet, d.groupKey(g)),
		checkSessionOp(mk, s.id),
		kvOp(api.KVDelete, mk),
	}, nil)
	if err != nil {
		return d.wrap(ctx, "leave group", err)
	}
	if ok {
		return nil
	}
	switch op, what := txnFailure(resp); {
	case isAuthText(what):
		return fmt.Errorf("consul leave group: %w: %s", tooz.ErrAuth, what)
	case op == 0:
		return tooz.ErrGroupNotCreated
	case op == 1:
		return tooz.ErrMemberNotJoined
	default:
		return fmt.Errorf("consul leave group: %s", what)
	}
}

// readMember reads group g's marker and member m in one read-only transaction.
func (d *conn) readMember(ctx context.Context, g, m string, q *api.QueryOptions) (*api.KVPair, error) {
	mk := d.memberKey(g, m)
	ok, resp, err := d.txn(ctx, api.TxnOps{
		kvOp(api.KVGet, d.groupKey(g)),
		kvOp(api.KVGet, mk),
	}, q)
	if err != nil {
		return nil, d.wrap(ctx, "read member", err)
	}
	if !ok {
		switch op, what := txnFailure(resp); {
		case isAuthText(what):
			return nil, fmt.Errorf("consul read member: %w: %s", tooz.ErrAuth, what)
		case op == 0:
			return nil, tooz.ErrGroupNotCreated
		case op == 1:
			return nil, tooz.ErrMemberNotJoined
		default:
			return nil, fmt.Errorf("consul read member: %s", what)
		}
	}
	for _, r := range resp.Results {
		if r.KV != nil && r.KV.Key == mk {
			if r.KV.Session == "" {
				return nil, tooz.ErrMemberNotJoined
			}
			return r.KV, nil
		}
	}
	return nil, tooz.ErrMemberNotJoined
}

// MemberInfo implements tooz.CoordinationDriver.
func (d *conn) MemberInfo(ctx context.Context, g, m string) (tooz.MemberInfo, error) {
	if d.isClosed() {
		return tooz.MemberInfo{}, tooz.ErrClosed
	}
	p, err := d.readMember(ctx, g, m, d.q(ctx))
	if err != nil {
		return tooz.MemberInfo{}, err
	}
	rec, err := record.Decode(p.Value)
	if err != nil {
		return tooz.MemberInfo{}, fmt.Errorf("consul member info: key %q: %w", p.Key, err)
	}
	return tooz.MemberInfo{ID: m, Capabilities: rec.Capabilities, JoinedAt: rec.JoinedAt, UpdatedAt: rec.UpdatedAt, Incarnation: p.Session}, nil
}

// UpdateCapabilities implements tooz.CoordinationDriver: the member key is
// rewritten by its own session, keeping its join time, and only if nobody
// changed it since it was read.
func (d *conn) UpdateCapabilities(ctx context.Context, g string, caps []byte) error {
	s, err := d.live()
	if err != nil {
		return err
	}
	mk := d.memberKey(g, d.member)
	for {
		p, err := d.readMember(ctx, g, d.member, d.strong(ctx))
		if err != nil {
			return err
		}
		if p.Session != s.id {
			return tooz.ErrMemberNotJoined
		}
		joined := time.Now()
		if rec, err := record.Decode(p.Value); err == nil {
			joined = rec.JoinedAt
		}
		val := record.Encode(record.Member{Capabilities: caps, JoinedAt: joined, UpdatedAt: time.Now()})
		ok, resp, err := d.txn(ctx, api.TxnOps{
			kvOp(api.KVGet, d.groupKey(g)),
			checkSessionOp(mk, s.id),
			{KV: &api.KVTxnOp{Verb: api.KVCheckIndex, Key: mk, Index: p.ModifyIndex}},
			lockOp(mk, val, s.id),
		}, nil)
		if err != nil {
			return d.wrap(ctx, "update capabilities", err)
		}
		if ok {
			return nil
		}
		switch op, what := txnFailure(resp); {
		case isAuthText(what):
			return fmt.Errorf("consul update capabilities: %w: %s", tooz.ErrAuth, what)
		case op == 0:
			return tooz.ErrGroupNotCreated
		case op == 1:
			return tooz.ErrMemberNotJoined
		case op == 2:
			continue // changed meanwhile: read again
		default:
			return fmt.Errorf("consul update capabilities: %s", what)
		}
	}
}

// memberEntry is one member as listed: its ID and the key's creation index.
type memberEntry struct {
	id      string
	created uint64
	pair    *api.KVPair
}

// parseMembers picks the members out of a listing of group prefix. It
// reports whether the group marker was there.
func (d *conn) parseMembers(prefix string, pairs api.KVPairs) (bool, []memberEntry) {
	exists := false
	var out []memberEntry
	for _, p := range pairs {
		if p.Key == prefix {
			exists = true
			continue
		}
		seg := strings.TrimPrefix(p.Key, prefix)
		if seg == deletingName {
			continue
		}
		if p.Session == "" {
			// Not tied to any member's liveness: not ours.
			d.log.Warn("tooz/consul: ignoring a key without a session in a group", "key", p.Key)
			continue
		}
		id, err := keyspace.Unescape(seg)
		if err != nil {
			d.log.Warn("tooz/consul: ignoring a foreign key in a group", "key", p.Key)
			continue
		}
		// What Members would skip must not be a member to a watch either.
		if _, err := record.Decode(p.Value); err != nil {
			d.log.Warn("tooz/consul: ignoring a malformed member record", "key", p.Key, "err", err)
			continue
		}
		out = append(out, memberEntry{id: id, created: p.CreateIndex, pair: p})
	}
	return exists, out
}

// Members implements tooz.CoordinationDriver: one listing of the group's
// prefix gives the marker and every member with its record.
func (d *conn) Members(ctx context.Context, g string) ([]tooz.MemberInfo, error) {
	if d.isClosed() {
		return nil, tooz.ErrClosed
	}
	prefix := d.groupKey(g)
	pairs, _, err := d.kv.List(prefix, d.q(ctx))
	if err != nil {
		return nil, d.wrap(ctx, "list members", err)
	}
	exists, ms := d.parseMembers(prefix, pairs)
	if !exists {
		return nil, tooz.ErrGroupNotCreated
	}
	out := make([]tooz.MemberInfo, 0, len(ms))
	for _, m := range ms {
		rec, err := record.Decode(m.pair.Value)
		if err != nil {
			d.log.Warn("tooz/consul: ignoring a malformed member record", "key", m.pair.Key, "err", err)
			continue
		}
		out = append(out, tooz.MemberInfo{ID: m.id, Capabilities: rec.Capabilities, JoinedAt: rec.JoinedAt, UpdatedAt: rec.UpdatedAt, Incarnation: m.pair.Session})
	}
	return out, nil
}

// info decodes m's record (parseMembers checked that it decodes).
func (m memberEntry) info() tooz.MemberInfo {
	rec, _ := record.Decode(m.pair.Value)
	return tooz.MemberInfo{ID: m.id, Capabilities: rec.Capabilities, JoinedAt: rec.JoinedAt, UpdatedAt: rec.UpdatedAt, Incarnation: m.pair.Session}
}

func infos(ms []memberEntry) []tooz.MemberInfo {
	out := make([]tooz.MemberInfo, len(ms))
	for i, m := range ms {
		out[i] = m.info()
	}
	return out
}

// WatchGroup implements tooz.CoordinationDriver.
func (d *conn) WatchGroup(ctx context.Context, g string, sink tooz.GroupSink) (func(), error) {
	return d.WatchMembers(ctx, g, membersink.Legacy(sink))
}

// WatchMembers implements tooz.MemberWatcher with blocking queries on the
// group's prefix. Each answer is a complete listing: the difference from
// the previous one (by member and key creation index, so that a member
// that left and came back between two answers is reported as both; by
// modify index for updates) gives the events. After a failed query or an
// index that went backwards, the next listing is a new snapshot.
func (d *conn) WatchMembers(ctx context.Context, g string, sink tooz.MemberSink) (func(), error) {
	prefix := d.groupKey(g)
	pairs, meta, err := d.kv.List(prefix, d.q(ctx))
	if err != nil {
		return nil, d.wrap(ctx, "watch group", err)
	}
	_, ms := d.parseMembers(prefix, pairs)
	known := make(map[string]memberEntry, len(ms))
	for _, m := range ms {
		known[m.id] = m
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, tooz.ErrClosed
	}
	wctx, cancel := context.WithCancel(d.base)
	done := make(chan struct{})
	d.mu.Unlock()
	sink.Snapshot(infos(ms), meta.LastIndex)
	if !d.run.Go(func() {
		defer close(done)
		d.watchLoop(wctx, prefix, sink, known, meta.LastIndex)
	}) {
		close(done) // closed meanwhile: the watch ends as it starts
	}
	return func() {
		cancel()
		<-done
	}, nil
}

func (d *conn) watchLoop(ctx context.Context, prefix string, sink tooz.MemberSink, known map[string]memberEntry, last uint64) {
	d.followPrefix(ctx, prefix, "group", last, func(pairs api.KVPairs, last uint64, reset bool) {
		_, ms := d.parseMembers(prefix, pairs)
		cur := make(map[string]memberEntry, len(ms))
		for _, m := range ms {
			cur[m.id] = m
		}
		if reset {
			known = cur
			sink.Snapshot(infos(ms), last)
			return
		}
		var left []string
		for id, k := range known {
			if c, ok := cur[id]; !ok || c.created != k.created {
				left = append(left, id)
			}
		}
		sort.Strings(left)
		for _, id := range left {
			sink.Left(id, last)
		}
		// Joins and updates in the order of the index that made them.
		var changed []memberEntry
		for _, m := range ms {
			if k, ok := known[m.id]; !ok || k.created != m.created || k.pair.ModifyIndex != m.pair.ModifyIndex {
				changed = append(changed, m)
			}
		}
		slices.SortFunc(changed, func(a, b memberEntry) int {
			if c := cmp.Compare(a.pair.ModifyIndex, b.pair.ModifyIndex); c != 0 {
				return c
			}
			return strings.Compare(a.id, b.id)
		})
		for _, m := range changed {
			if k, ok := known[m.id]; ok && k.created == m.created {
				sink.Updated(m.info(), m.pair.ModifyIndex)
			} else {
				sink.Joined(m.info(), m.pair.ModifyIndex)
			}
		}
		known = cur
	})
}

// followPrefix runs blocking queries on prefix, each waiting past the
// index of the answer before (last at first), until ctx ends, and gives
// got every answer: a complete listing with its index. reset asks got to
// take the listing as a new snapshot: a query failed (changes may have
// been missed while the agent could not be reached) or the servers'
// index went backwards (a snapshot restore, a reaped tombstone).
func (d *conn) followPrefix(ctx context.Context, prefix, what string, last uint64, got func(pairs api.KVPairs, last uint64, reset bool)) {
	bo := &driverkit.Backoff{Min: minBackoff, Max: maxBackoff}
	reset := false
	wait := last // the index to wait past; 0 asks for the current state at once
	waitTime := d.watchWait()
	for {
		q := d.q(ctx)
		q.WaitIndex, q.WaitTime = wait, waitTime
		began := time.Now()
		pairs, meta, err := d.kv.List(prefix, q)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.log.Debug("tooz/consul: watch failed; retrying", "what", what, "prefix", prefix, "err", d.scrub(err.Error()))
			reset = true
			if !bo.Wait(ctx) {
				return
			}
			continue
		}
		bo.Reset()
		if h := d.testHoldWatches.Load(); h != nil {
			// A test cuts the watch off: this answer is lost, and the
			// next query is made once the test lets it.
			select {
			case <-*h:
			case <-ctx.Done():
				return
			}
			continue
		}
		if abandonedWithin(wait, meta.LastIndex, began, waitTime) {
			// The servers dropped their state store (a snapshot restore)
			// and answered from the old one: look at the new one at once.
			wait = 0
			continue
		}
		if meta.LastIndex < last {
			d.log.Info("tooz/consul: a watch's index went backwards; re-listing",
				"what", what, "prefix", prefix, "index", meta.LastIndex, "was", last)
			reset = true
		}
		last = max(meta.LastIndex, 1)
		wait = last
		got(pairs, last, reset)
		reset = false
	}
}
