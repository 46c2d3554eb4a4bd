// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"fmt"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/sharerec"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Semaphores and read/write locks (tooz.SharedAcquirer).
//
// A contender is a key under N/semaphores/S/ (N/rwlocks/L/) on the
// coordinator's lease, named like a lock contender, whose value is a
// sharerec record (share and member ID). The queue is ordered by create
// revision and tooz.Share.Holds decides who holds; the fencing token is the
// key's create revision. Acquire is one transaction: create the key and
// read the queue up to it. A waiter watches the whole prefix for deletions
// from the current revision (never from a past one, which etcd serves from
// its unsynced watcher set every 100 ms), reads the queue once the watch is
// in place, and then follows deletions of the keys ahead of it: it needs no
// further request, and only a deletion that lets it hold does anything.
// Keys without a lease, or whose value is not a record, are ignored with a
// log line; an operator removes one with etcdctl del.

// sharedPrefix is the key prefix of a semaphore's or read/write lock's contenders.
func (k keys) sharedPrefix(r tooz.Resource) string {
	return k.ns + sharerec.Space(r.Kind) + "/" + keyspace.Escape(r.Name) + "/"
}

// ahead decodes the contenders of a queue reading (in create revision
// order) that are older than own (all of them when own is ""), and says
// whether own was among them.
func (c *conn) ahead(kvs []*mvccpb.KeyValue, own string) (map[string]tooz.Share, []tooz.Share, bool) {
	byKey := map[string]tooz.Share{}
	var order []tooz.Share
	for _, kv := range kvs {
		if string(kv.Key) == own {
			return byKey, order, true
		}
		sh, ok := c.decodeEntry(kv)
		if !ok {
			continue
		}
		byKey[string(kv.Key)] = sh
		order = append(order, sh)
	}
	return byKey, order, false
}

// decodeEntry decodes one contender key, logging one it ignores.
func (c *conn) decodeEntry(kv *mvccpb.KeyValue) (tooz.Share, bool) {
	sh, _, err := sharerec.Decode(string(kv.Value))
	switch {
	case err != nil:
		c.log.Warn("tooz/etcd: ignoring a key that is no contender record; delete it with etcdctl del", "key", string(kv.Key), "err", err)
		return sh, false
	case kv.Lease == 0:
		c.log.Warn("tooz/etcd: ignoring a contender key without a lease (it would never expire); delete it with etcdctl del", "key", string(kv.Key))
		return sh, false
	}
	return sh, true
}

func shares(m map[string]tooz.Share) []tooz.Share {
	out := make([]tooz.Share, 0, len(m))
	for _, sh := range m {
		out = append(out, sh)
	}
	return out
}

// AcquireShared implements tooz.SharedAcquirer.
func (c *conn) AcquireShared(ctx context.Context, res tooz.Resource, sh tooz.Share, wait bool) (tooz.Ownership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l, err := c.leaseFor(ctx, c.mainTTL)
	if err != nil {
		return nil, err
	}
	prefix := c.keys.sharedPrefix(res)
	ct := c.newContender(l, prefix)
	resp, err := c.enqueue(ctx, ct, func(tctx context.Context) (*clientv3.TxnResponse, error) {
		return c.cli.Txn(tctx).If(absent(ct.key)).Then(
			clientv3.OpPut(ct.key, sharerec.Encode(sh, c.member), clientv3.WithLease(l.id)),
			clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)),
		).Commit()
	})
	if err != nil {
		return nil, c.fail(ctx, l, err)
	}
	if !resp.Succeeded {
		c.orphan(ct) // cannot happen: see Acquire
		return nil, fmt.Errorf("etcd: contender key %q exists already", ct.key)
	}
	rev := resp.Header.Revision
	_, order, _ := c.ahead(rangeOf(resp, 1), ct.key)
	if err := sh.Agrees(order); err != nil {
		c.await(c.withdraw(ct))
		return nil, err
	}
	if sh.Holds(order) {
		return c.ownOrWithdraw(ct, rev)
	}
	if !wait {
		c.await(c.withdraw(ct))
		return nil, tooz.ErrNotAcquired
	}
	if err := c.waitShared(ctx, l, prefix, ct.key, rev, sh); err != nil {
		c.await(c.withdraw(ct))
		return nil, err
	}
	return c.ownOrWithdraw(ct, rev)
}

// waitShared waits until the contender key (created at rev) holds by sh.
func (c *conn) waitShared(ctx context.Context, l *lease, prefix, key string, rev int64, sh tooz.Share) error {
	wctx := clientv3.WithRequireLeader(ctx)
	for {
		err := c.waitSharedOnce(ctx, wctx, l, prefix, key, rev, sh)
		if err != errWatchBroke {
			return err
		}
	}
}

// waitSharedOnce is one watch of waitShared; errWatchBroke asks for another.
func (c *conn) waitSharedOnce(ctx, wctx context.Context, l *lease, prefix, key string, rev int64, sh tooz.Share) error {
	wctx, cancel := context.WithCancel(wctx)
	defer cancel()
	ch := c.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithCreatedNotify())
	next := func() (clientv3.WatchResponse, error) {
		select {
		case <-ctx.Done():
			return clientv3.WatchResponse{}, ctx.Err()
		case <-l.scope.Done():
			return clientv3.WatchResponse{}, c.deadErr()
		case wr, ok := <-ch:
			if !ok || wr.Err() != nil {
				return wr, c.watchErr(ctx, wr, ok)
			}
			return wr, nil
		}
	}
	for {
		wr, err := next()
		if err != nil {
			return err
		}
		if wr.Created {
			break
		}
	}
	// The watch is in place: what the reading misses, it reports.
	resp, err := c.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithMaxCreateRev(rev),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return c.fail(ctx, l, err)
	}
	at := resp.Header.Revision
	older, _, present := c.ahead(resp.Kvs, key)
	if !present {
		return errKeyGone
	}
	for !sh.Holds(shares(older)) {
		wr, err := next()
		if err != nil {
			return err
		}
		for _, ev := range wr.Events {
			if ev.Type != mvccpb.DELETE || ev.Kv.ModRevision <= at {
				continue
			}
			if string(ev.Kv.Key) == key {
				return errKeyGone
			}
			delete(older, string(ev.Kv.Key))
		}
	}
	return nil
}

// Holders implements tooz.SharedAcquirer: the members of the contenders
// that hold by tooz.Share.Holds, in queue order.
func (c *conn) Holders(ctx context.Context, res tooz.Resource) ([]string, error) {
	if c.isClosed() {
		return nil, tooz.ErrClosed
	}
	resp, err := c.cli.Get(ctx, c.keys.sharedPrefix(res), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, c.fail(ctx, nil, err)
	}
	var (
		ahead []tooz.Share
		ids   []string
	)
	for _, kv := range resp.Kvs {
		sh, ok := c.decodeEntry(kv)
		if !ok {
			continue
		}
		if sh.Holds(ahead) {
			_, m, _ := sharerec.Decode(string(kv.Value))
			ids = append(ids, m)
		}
		ahead = append(ahead, sh)
	}
	return ids, nil
}
