// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"strings"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The key/value namespace: key K is stored under NS/kv/escape(K) with its
// value as is (etcdctl shows it), its mod revision as its revision, and
// the coordinator's lease when it is ephemeral.

var _ tooz.KVStore = (*conn)(nil)

func (k keys) kv(key string) string { return k.ns + "kv/" + keyspace.Escape(key) }

// keyValue decodes a stored key; a key that no tooz key escapes to is
// logged and skipped.
func (c *conn) keyValue(kv *mvccpb.KeyValue) (tooz.KeyValue, bool) {
	key, err := keyspace.Unescape(strings.TrimPrefix(string(kv.Key), c.keys.kv("")))
	if err != nil {
		c.log.Warn("tooz/etcd: ignoring a foreign key in the key/value namespace", "key", string(kv.Key))
		return tooz.KeyValue{}, false
	}
	return tooz.KeyValue{Key: key, Value: kv.Value, Revision: uint64(kv.ModRevision), Ephemeral: kv.Lease != 0}, true
}

// GetKey implements tooz.KVStore.
func (c *conn) GetKey(ctx context.Context, key string) (tooz.KeyValue, error) {
	if c.isClosed() {
		return tooz.KeyValue{}, tooz.ErrClosed
	}
	resp, err := c.cli.Get(ctx, c.keys.kv(key))
	if err != nil {
		return tooz.KeyValue{}, c.fail(ctx, nil, err)
	}
	if len(resp.Kvs) == 0 {
		return tooz.KeyValue{}, tooz.ErrKeyNotFound
	}
	v, _ := c.keyValue(resp.Kvs[0])
	return v, nil
}

// listKeys lists the keys under prefix and returns the listing's revision.
func (c *conn) listKeys(ctx context.Context, prefix string) ([]tooz.KeyValue, int64, error) {
	resp, err := c.cli.Get(ctx, c.keys.kv(prefix), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, c.fail(ctx, nil, err)
	}
	out := make([]tooz.KeyValue, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if v, ok := c.keyValue(kv); ok {
			out = append(out, v)
		}
	}
	return out, resp.Header.Revision, nil
}

// ListKeys implements tooz.KVStore: one range read.
func (c *conn) ListKeys(ctx context.Context, prefix string) ([]tooz.KeyValue, error) {
	if c.isClosed() {
		return nil, tooz.ErrClosed
	}
	kvs, _, err := c.listKeys(ctx, prefix)
	return kvs, err
}

// revisionIs is the guard of a conditional write.
func revisionIs(key string, w tooz.KeyWrite) clientv3.Cmp {
	if w.Revision == 0 {
		return absent(key)
	}
	return clientv3.Compare(clientv3.ModRevision(key), "=", int64(w.Revision))
}

// PutKey implements tooz.KVStore: a put (a guarded one in a transaction),
// on the coordinator's lease when ephemeral; a put without a lease
// detaches the key from any lease it had.
func (c *conn) PutKey(ctx context.Context, key string, value []byte, w tooz.KeyWrite) (uint64, error) {
	var opts []clientv3.OpOption
	var l *lease
	if w.Ephemeral {
		var err error
		if l, err = c.mainLease(); err != nil {
			return 0, err
		}
		opts = append(opts, clientv3.WithLease(l.id))
	} else if c.isClosed() {
		return 0, tooz.ErrClosed
	}
	k := c.keys.kv(key)
	if !w.Check {
		resp, err := c.cli.Put(ctx, k, string(value), opts...)
		if err != nil {
			return 0, c.fail(ctx, l, err)
		}
		return uint64(resp.Header.Revision), nil
	}
	resp, err := c.cli.Txn(ctx).If(revisionIs(k, w)).Then(clientv3.OpPut(k, string(value), opts...)).Commit()
	if err != nil {
		return 0, c.fail(ctx, l, err)
	}
	if !resp.Succeeded {
		return 0, tooz.ErrConflict
	}
	return uint64(resp.Header.Revision), nil
}

// DeleteKey implements tooz.KVStore.
func (c *conn) DeleteKey(ctx context.Context, key string, w tooz.KeyWrite) error {
	if c.isClosed() {
		return tooz.ErrClosed
	}
	k := c.keys.kv(key)
	if !w.Check {
		resp, err := c.cli.Delete(ctx, k)
		if err != nil {
			return c.fail(ctx, nil, err)
		}
		if resp.Deleted == 0 {
			return tooz.ErrKeyNotFound
		}
		return nil
	}
	resp, err := c.cli.Txn(ctx).If(revisionIs(k, w)).Then(clientv3.OpDelete(k)).Commit()
	if err != nil {
		return c.fail(ctx, nil, err)
	}
	if !resp.Succeeded {
		return tooz.ErrConflict
	}
	return nil
}

// WatchKeys implements tooz.KVStore with watchPrefix: a listing, then an
// etcd watch from the revision after it, listed anew after a compaction.
func (c *conn) WatchKeys(ctx context.Context, prefix string, sink tooz.KeySink) (func(), error) {
	return c.watchPrefix(ctx, follower{
		prefix: c.keys.kv(prefix),
		what:   "keys",
		relist: func(ctx context.Context) (int64, error) {
			kvs, rev, err := c.listKeys(ctx, prefix)
			if err == nil {
				sink.Snapshot(kvs, uint64(rev))
			}
			return rev, err
		},
		apply: func(ev *clientv3.Event) {
			v, ok := c.keyValue(ev.Kv)
			switch {
			case !ok:
			case ev.Type == clientv3.EventTypeDelete:
				sink.Deleted(v.Key, v.Revision)
			default:
				sink.Put(v)
			}
		},
	})
}
