// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
)

// The key/value namespace: key K is the Consul key NS/kv/escape(K) with
// its value as is (consul kv get shows it) and its modify index as its
// revision. An ephemeral key is acquired with the coordinator's session
// (behavior delete), so Consul deletes it when the session ends; a plain
// write deletes and sets the key in one transaction, which drops any
// session's hold on it.

var _ tooz.KVStore = (*conn)(nil)

func (d *conn) kvKey(key string) string { return d.ns + "/kv/" + keyspace.Escape(key) }

// keyValue decodes a Consul pair; a key no tooz key escapes to is logged and skipped.
func (d *conn) keyValue(p *api.KVPair) (tooz.KeyValue, bool) {
	key, err := keyspace.Unescape(strings.TrimPrefix(p.Key, d.kvKey("")))
	if err != nil {
		d.log.Warn("tooz/consul: ignoring a foreign key in the key/value namespace", "key", p.Key)
		return tooz.KeyValue{}, false
	}
	return tooz.KeyValue{Key: key, Value: p.Value, Revision: p.ModifyIndex, Ephemeral: p.Session != ""}, true
}

func (d *conn) keyValues(pairs api.KVPairs) []tooz.KeyValue {
	out := make([]tooz.KeyValue, 0, len(pairs))
	for _, p := range pairs {
		if v, ok := d.keyValue(p); ok {
			out = append(out, v)
		}
	}
	return out
}

// GetKey implements tooz.KVStore.
func (d *conn) GetKey(ctx context.Context, key string) (tooz.KeyValue, error) {
	if d.isClosed() {
		return tooz.KeyValue{}, tooz.ErrClosed
	}
	p, _, err := d.kv.Get(d.kvKey(key), d.q(ctx))
	if err != nil {
		return tooz.KeyValue{}, d.wrap(ctx, "get key", err)
	}
	if p == nil {
		return tooz.KeyValue{}, tooz.ErrKeyNotFound
	}
	v, _ := d.keyValue(p)
	return v, nil
}

// ListKeys implements tooz.KVStore: one recursive read.
func (d *conn) ListKeys(ctx context.Context, prefix string) ([]tooz.KeyValue, error) {
	if d.isClosed() {
		return nil, tooz.ErrClosed
	}
	pairs, _, err := d.kv.List(d.kvKey("")+keyspace.Escape(prefix), d.q(ctx))
	if err != nil {
		return nil, d.wrap(ctx, "list keys", err)
	}
	return d.keyValues(pairs), nil
}

// checkOp is the guard of a conditional write.
func checkOp(k string, w tooz.KeyWrite) *api.TxnOp {
	if w.Revision == 0 {
		return kvOp(api.KVCheckNotExists, k)
	}
	return &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCheckIndex, Key: k, Index: w.Revision}}
}

// PutKey implements tooz.KVStore: one transaction of the guard, a delete
// (dropping any session's hold) and a set, or a lock with the session for
// an ephemeral key.
func (d *conn) PutKey(ctx context.Context, key string, value []byte, w tooz.KeyWrite) (uint64, error) {
	var s *session
	if w.Ephemeral {
		var err error
		if s, err = d.live(); err != nil {
			return 0, err
		}
	} else if d.isClosed() {
		return 0, tooz.ErrClosed
	}
	k := d.kvKey(key)
	var ops api.TxnOps
	if w.Check {
		ops = append(ops, checkOp(k, w))
	}
	ops = append(ops, kvOp(api.KVDelete, k))
	if s != nil {
		ops = append(ops, lockOp(k, value, s.id))
	} else {
		ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: k, Value: value}})
	}
	for {
		ok, resp, err := d.txn(ctx, ops, nil)
		if err != nil {
			return 0, d.wrap(ctx, "put key", err)
		}
		if ok {
			last := resp.Results[len(resp.Results)-1]
			if last.KV == nil {
				return 0, fmt.Errorf("consul put key: the transaction returned no key")
			}
			return last.KV.ModifyIndex, nil
		}
		switch op, what := txnFailure(resp); {
		case isAuthText(what):
			return 0, fmt.Errorf("consul put key: %w: %s", tooz.ErrAuth, what)
		case w.Check && op == 0:
			return 0, tooz.ErrConflict
		default:
			if err := d.txnRefused(ctx, s, "put key", what); err != nil {
				return 0, err
			}
		}
	}
}

// DeleteKey implements tooz.KVStore: a get (which fails when the key does
// not exist) and a delete, or a delete guarded by the modify index (a
// check-index, which fails on a missing key, where a delete-cas would not).
func (d *conn) DeleteKey(ctx context.Context, key string, w tooz.KeyWrite) error {
	if d.isClosed() {
		return tooz.ErrClosed
	}
	k := d.kvKey(key)
	ops := api.TxnOps{kvOp(api.KVGet, k), kvOp(api.KVDelete, k)}
	if w.Check {
		ops = api.TxnOps{checkOp(k, w), kvOp(api.KVDelete, k)}
	}
	ok, resp, err := d.txn(ctx, ops, nil)
	if err != nil {
		return d.wrap(ctx, "delete key", err)
	}
	if ok {
		return nil
	}
	switch _, what := txnFailure(resp); {
	case isAuthText(what):
		return fmt.Errorf("consul delete key: %w: %s", tooz.ErrAuth, what)
	case w.Check:
		return tooz.ErrConflict
	}
	return tooz.ErrKeyNotFound
}

// WatchKeys implements tooz.KVStore with blocking queries on the prefix
// (see followPrefix). Each answer is a complete listing: keys gone since
// the one before are reported deleted, keys with a new modify index
// written (in index order); after a failed query or an index that went
// backwards the listing is a new snapshot.
func (d *conn) WatchKeys(ctx context.Context, prefix string, sink tooz.KeySink) (func(), error) {
	p := d.kvKey("") + keyspace.Escape(prefix)
	pairs, meta, err := d.kv.List(p, d.q(ctx))
	if err != nil {
		return nil, d.wrap(ctx, "watch keys", err)
	}
	index := func(kvs []tooz.KeyValue) map[string]tooz.KeyValue {
		m := make(map[string]tooz.KeyValue, len(kvs))
		for _, v := range kvs {
			m[v.Key] = v
		}
		return m
	}
	kvs := d.keyValues(pairs)
	known := index(kvs)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, tooz.ErrClosed
	}
	wctx, cancel := context.WithCancel(d.base)
	done := make(chan struct{})
	d.mu.Unlock()
	sink.Snapshot(kvs, meta.LastIndex)
	if !d.run.Go(func() {
		defer close(done)
		d.followPrefix(wctx, p, "keys", meta.LastIndex, func(pairs api.KVPairs, last uint64, reset bool) {
			kvs := d.keyValues(pairs)
			cur := index(kvs)
			if reset {
				known = cur
				sink.Snapshot(kvs, last)
				return
			}
			var gone []string
			for k := range known {
				if _, ok := cur[k]; !ok {
					gone = append(gone, k)
				}
			}
			slices.Sort(gone)
			for _, k := range gone {
				sink.Deleted(k, last)
			}
			var changed []tooz.KeyValue
			for _, v := range kvs {
				if o, ok := known[v.Key]; !ok || o.Revision != v.Revision {
					changed = append(changed, v)
				}
			}
			slices.SortFunc(changed, func(a, b tooz.KeyValue) int { return cmp.Compare(a.Revision, b.Revision) })
			for _, v := range changed {
				sink.Put(v)
			}
			known = cur
		})
	}) {
		close(done) // closed meanwhile: the watch ends as it starts
	}
	return func() {
		cancel()
		<-done
	}, nil
}
