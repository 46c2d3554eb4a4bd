// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/membersink"
	"github.com/toozgo/tooz/internal/record"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// exists and absent are the transaction guards on a key.
func exists(key string) clientv3.Cmp { return clientv3.Compare(clientv3.CreateRevision(key), ">", 0) }
func absent(key string) clientv3.Cmp { return clientv3.Compare(clientv3.CreateRevision(key), "=", 0) }

// noKeyUnder holds when no key starts with prefix (etcd compares every key
// of the range; an empty range compares as one absent key).
func noKeyUnder(prefix string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(prefix), "=", 0).WithPrefix()
}

// rangeOf returns the i-th response of a transaction as a range response.
func rangeOf(resp *clientv3.TxnResponse, i int) []*mvccpb.KeyValue {
	return resp.Responses[i].GetResponseRange().GetKvs()
}

func countOf(resp *clientv3.TxnResponse, i int) int64 {
	return resp.Responses[i].GetResponseRange().GetCount()
}

// CreateGroup implements tooz.CoordinationDriver.
func (c *conn) CreateGroup(ctx context.Context, g string) error {
	if c.isClosed() {
		return tooz.ErrClosed
	}
	key := c.keys.group(g)
	resp, err := c.cli.Txn(ctx).If(absent(key)).Then(clientv3.OpPut(key, "")).Commit()
	if err != nil {
		return c.fail(ctx, nil, err)
	}
	if !resp.Succeeded {
		return tooz.ErrGroupAlreadyExists
	}
	return nil
}

// DeleteGroup implements tooz.CoordinationDriver: the delete is guarded on
// the group existing and having no member key, in one transaction.
func (c *conn) DeleteGroup(ctx context.Context, g string) error {
	if c.isClosed() {
		return tooz.ErrClosed
	}
	key := c.keys.group(g)
	resp, err := c.cli.Txn(ctx).
		If(exists(key), noKeyUnder(c.keys.membersOf(g))).
		Then(clientv3.OpDelete(key)).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return c.fail(ctx, nil, err)
	}
	switch {
	case resp.Succeeded:
		return nil
	case countOf(resp, 0) == 0:
		return tooz.ErrGroupNotCreated
	default:
		return tooz.ErrGroupNotEmpty
	}
}

// Groups implements tooz.CoordinationDriver.
func (c *conn) Groups(ctx context.Context) ([]string, error) {
	if c.isClosed() {
		return nil, tooz.ErrClosed
	}
	prefix := c.keys.groupsPrefix()
	resp, err := c.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, c.fail(ctx, nil, err)
	}
	gs := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		g, err := keyspace.Unescape(strings.TrimPrefix(string(kv.Key), prefix))
		if err != nil {
			c.log.Warn("tooz/etcd: ignoring a foreign key under the groups prefix", "key", string(kv.Key))
			continue
		}
		gs = append(gs, g)
	}
	return gs, nil
}

// JoinGroup implements tooz.CoordinationDriver: the member key is put on
// the lease only if the group exists and the member key does not.
func (c *conn) JoinGroup(ctx context.Context, g string, caps []byte) error {
	l, err := c.mainLease()
	if err != nil {
		return err
	}
	gkey, mkey := c.keys.group(g), c.keys.member(g, c.member)
	now := time.Now()
	val := record.Encode(record.Member{Capabilities: caps, JoinedAt: now, UpdatedAt: now})
	resp, err := c.cli.Txn(ctx).
		If(exists(gkey), absent(mkey)).
		Then(clientv3.OpPut(mkey, string(val), clientv3.WithLease(l.id))).
		Else(clientv3.OpGet(gkey, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return c.fail(ctx, l, err)
	}
	switch {
	case resp.Succeeded:
		c.mu.Lock()
		c.joins[g] = join{rev: resp.Header.Revision, at: now}
		c.mu.Unlock()
		return nil
	case countOf(resp, 0) == 0:
		return tooz.ErrGroupNotCreated
	default:
		return tooz.ErrMemberAlreadyJoined
	}
}

// LeaveGroup implements tooz.CoordinationDriver.
func (c *conn) LeaveGroup(ctx context.Context, g string) error {
	if c.isClosed() {
		return tooz.ErrClosed
	}
	gkey, mkey := c.keys.group(g), c.keys.member(g, c.member)
	resp, err := c.cli.Txn(ctx).
		If(exists(gkey), exists(mkey)).
		Then(clientv3.OpDelete(mkey)).
		Else(clientv3.OpGet(gkey, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return c.fail(ctx, nil, err)
	}
	if resp.Succeeded || countOf(resp, 0) == 0 {
		c.mu.Lock()
		delete(c.joins, g)
		c.mu.Unlock()
	}
	switch {
	case resp.Succeeded:
		return nil
	case countOf(resp, 0) == 0:
		return tooz.ErrGroupNotCreated
	default:
		return tooz.ErrMemberNotJoined
	}
}

// Members implements tooz.CoordinationDriver: the group key and every
// member key with its value, in one read transaction.
func (c *conn) Members(ctx context.Context, g string) ([]tooz.MemberInfo, error) {
	if c.isClosed() {
		return nil, tooz.ErrClosed
	}
	prefix := c.keys.membersOf(g)
	resp, err := c.cli.Txn(ctx).Then(
		clientv3.OpGet(c.keys.group(g), clientv3.WithCountOnly()),
		clientv3.OpGet(prefix, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, c.fail(ctx, nil, err)
	}
	if countOf(resp, 0) == 0 {
		return nil, tooz.ErrGroupNotCreated
	}
	kvs := rangeOf(resp, 1)
	out := make([]tooz.MemberInfo, 0, len(kvs))
	for _, kv := range kvs {
		if info, ok := c.memberInfo(prefix, kv); ok {
			out = append(out, info)
		}
	}
	return out, nil
}

// leaseID names a membership's incarnation: the lease its key is tied to.
func leaseID(l int64) string { return strconv.FormatInt(l, 16) }

// memberInfo decodes a member key and value; foreign entries are logged and skipped.
func (c *conn) memberInfo(prefix string, kv *mvccpb.KeyValue) (tooz.MemberInfo, bool) {
	id, err := keyspace.Unescape(strings.TrimPrefix(string(kv.Key), prefix))
	if err != nil || kv.Lease == 0 {
		c.log.Warn("tooz/etcd: ignoring a foreign key under a group's members", "key", string(kv.Key))
		return tooz.MemberInfo{}, false
	}
	m, err := record.Decode(kv.Value)
	if err != nil {
		c.log.Warn("tooz/etcd: ignoring a malformed member value", "key", string(kv.Key), "err", err)
		return tooz.MemberInfo{}, false
	}
	return tooz.MemberInfo{ID: id, Capabilities: m.Capabilities, JoinedAt: m.JoinedAt, UpdatedAt: m.UpdatedAt, Incarnation: leaseID(kv.Lease)}, true
}

// MemberInfo implements tooz.CoordinationDriver.
func (c *conn) MemberInfo(ctx context.Context, g, m string) (tooz.MemberInfo, error) {
	if c.isClosed() {
		return tooz.MemberInfo{}, tooz.ErrClosed
	}
	resp, err := c.cli.Txn(ctx).Then(
		clientv3.OpGet(c.keys.group(g), clientv3.WithCountOnly()),
		clientv3.OpGet(c.keys.member(g, m)),
	).Commit()
	if err != nil {
		return tooz.MemberInfo{}, c.fail(ctx, nil, err)
	}
	if countOf(resp, 0) == 0 {
		return tooz.MemberInfo{}, tooz.ErrGroupNotCreated
	}
	kvs := rangeOf(resp, 1)
	if len(kvs) == 0 {
		return tooz.MemberInfo{}, tooz.ErrMemberNotJoined
	}
	info, ok := c.memberInfo(c.keys.membersOf(g), kvs[0])
	if !ok {
		return tooz.MemberInfo{}, tooz.ErrMemberNotJoined
	}
	return info, nil
}

// UpdateCapabilities implements tooz.CoordinationDriver. When this
// coordinator created the membership, it is one transaction guarded on the
// member key's create revision (so the group and the membership exist);
// otherwise, or when that guard fails, it reads the record and replaces it
// only if nobody changed it meanwhile. The key keeps its lease.
func (c *conn) UpdateCapabilities(ctx context.Context, g string, caps []byte) error {
	if c.isClosed() {
		return tooz.ErrClosed
	}
	gkey, mkey := c.keys.group(g), c.keys.member(g, c.member)
	c.mu.Lock()
	j, ok := c.joins[g]
	c.mu.Unlock()
	if ok {
		val := record.Encode(record.Member{Capabilities: caps, JoinedAt: j.at, UpdatedAt: time.Now()})
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(mkey), "=", j.rev)).
			Then(clientv3.OpPut(mkey, string(val), clientv3.WithIgnoreLease())).
			Commit()
		if err != nil {
			return c.fail(ctx, nil, err)
		}
		if resp.Succeeded {
			return nil
		}
		c.mu.Lock()
		if c.joins[g] == j {
			delete(c.joins, g) // that membership is gone
		}
		c.mu.Unlock()
	}
	for {
		resp, err := c.cli.Txn(ctx).Then(
			clientv3.OpGet(gkey, clientv3.WithCountOnly()),
			clientv3.OpGet(mkey),
		).Commit()
		if err != nil {
			return c.fail(ctx, nil, err)
		}
		if countOf(resp, 0) == 0 {
			return tooz.ErrGroupNotCreated
		}
		kvs := rangeOf(resp, 1)
		if len(kvs) == 0 {
			return tooz.ErrMemberNotJoined
		}
		now := time.Now()
		joined := now
		if old, err := record.Decode(kvs[0].Value); err == nil {
			joined = old.JoinedAt
		}
		val := record.Encode(record.Member{Capabilities: caps, JoinedAt: joined, UpdatedAt: now})
		put, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(mkey), "=", kvs[0].ModRevision)).
			Then(clientv3.OpPut(mkey, string(val), clientv3.WithIgnoreLease())).
			Commit()
		if err != nil {
			return c.fail(ctx, nil, err)
		}
		if put.Succeeded {
			return nil
		}
	}
}

// listMembers returns the members of a group and the revision of the listing.
func (c *conn) listMembers(ctx context.Context, prefix string) ([]tooz.MemberInfo, int64, error) {
	resp, err := c.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, c.fail(ctx, nil, err)
	}
	out := make([]tooz.MemberInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if info, ok := c.memberInfo(prefix, kv); ok { // every member key is tied to its member's lease
			out = append(out, info)
		}
	}
	return out, resp.Header.Revision, nil
}

// WatchGroup implements tooz.CoordinationDriver.
func (c *conn) WatchGroup(ctx context.Context, g string, sink tooz.GroupSink) (func(), error) {
	return c.WatchMembers(ctx, g, membersink.Legacy(sink))
}

// WatchMembers implements tooz.MemberWatcher: list the group's members at
// revision R, give the sink that snapshot, then follow an etcd watch from
// R+1 (see watchPrefix).
func (c *conn) WatchMembers(ctx context.Context, g string, sink tooz.MemberSink) (func(), error) {
	prefix := c.keys.membersOf(g)
	return c.watchPrefix(ctx, follower{
		prefix: prefix,
		what:   "group",
		relist: func(ctx context.Context) (int64, error) {
			infos, rev, err := c.listMembers(ctx, prefix)
			if err == nil {
				sink.Snapshot(infos, uint64(rev))
			}
			return rev, err
		},
		apply: func(ev *clientv3.Event) {
			id, err := keyspace.Unescape(strings.TrimPrefix(string(ev.Kv.Key), prefix))
			if err != nil {
				return
			}
			r := uint64(ev.Kv.ModRevision)
			if ev.Type == clientv3.EventTypeDelete {
				sink.Left(id, r)
				return
			}
			// What Members would ignore is no event (a left event for a
			// member that never joined is dropped by the sink).
			m, err := record.Decode(ev.Kv.Value)
			if err != nil || ev.Kv.Lease == 0 {
				return
			}
			info := tooz.MemberInfo{ID: id, Capabilities: m.Capabilities, JoinedAt: m.JoinedAt, UpdatedAt: m.UpdatedAt, Incarnation: leaseID(ev.Kv.Lease)}
			if ev.IsCreate() {
				sink.Joined(info, r)
			} else {
				sink.Updated(info, r)
			}
		},
	})
}
