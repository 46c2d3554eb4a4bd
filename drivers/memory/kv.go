// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package memory

import (
	"bytes"
	"context"
	"strings"

	"github.com/toozgo/tooz"
)

var _ tooz.KVStore = (*conn)(nil)

// entry is one key of the store's key/value namespace.
type entry struct {
	value []byte
	rev   uint64
	sess  *session // the session an ephemeral key is bound to, else nil
}

type keyWatcher struct {
	prefix string
	sink   tooz.KeySink
}

func (e *entry) kv(key string) tooz.KeyValue {
	return tooz.KeyValue{Key: key, Value: bytes.Clone(e.value), Revision: e.rev, Ephemeral: e.sess != nil}
}

// GetKey implements tooz.KVStore.
func (c *conn) GetKey(ctx context.Context, key string) (tooz.KeyValue, error) {
	if err := ctx.Err(); err != nil {
		return tooz.KeyValue{}, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if c.closed {
		return tooz.KeyValue{}, tooz.ErrClosed
	}
	e := c.st.keys[key]
	if e == nil {
		return tooz.KeyValue{}, tooz.ErrKeyNotFound
	}
	return e.kv(key), nil
}

// ListKeys implements tooz.KVStore.
func (c *conn) ListKeys(ctx context.Context, prefix string) ([]tooz.KeyValue, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if c.closed {
		return nil, tooz.ErrClosed
	}
	return c.st.list(prefix), nil
}

func (st *store) list(prefix string) []tooz.KeyValue {
	var out []tooz.KeyValue
	for k, e := range st.keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, e.kv(k))
		}
	}
	return out
}

func check(e *entry, w tooz.KeyWrite) error {
	switch {
	case !w.Check:
		return nil
	case e == nil && w.Revision == 0, e != nil && e.rev == w.Revision:
		return nil
	}
	return tooz.ErrConflict
}

// PutKey implements tooz.KVStore.
func (c *conn) PutKey(ctx context.Context, key string, value []byte, w tooz.KeyWrite) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	s, err := c.live()
	if err != nil {
		return 0, err
	}
	e := c.st.keys[key]
	if err := check(e, w); err != nil {
		return 0, err
	}
	if e != nil && e.sess != nil {
		delete(e.sess.keys, key)
	}
	c.st.rev++
	e = &entry{value: bytes.Clone(value), rev: c.st.rev}
	if w.Ephemeral {
		e.sess = s
		s.keys[key] = struct{}{}
	}
	c.st.keys[key] = e
	for kw := range c.st.keyWatchers {
		if strings.HasPrefix(key, kw.prefix) {
			kw.sink.Put(e.kv(key))
		}
	}
	return e.rev, nil
}

// DeleteKey implements tooz.KVStore.
func (c *conn) DeleteKey(ctx context.Context, key string, w tooz.KeyWrite) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if _, err := c.live(); err != nil {
		return err
	}
	e := c.st.keys[key]
	if err := check(e, w); err != nil {
		return err
	}
	if e == nil {
		return tooz.ErrKeyNotFound
	}
	c.st.deleteKey(key)
	return nil
}

// deleteKey removes key and tells the watchers. Called with st.mu held.
func (st *store) deleteKey(key string) {
	e := st.keys[key]
	if e.sess != nil {
		delete(e.sess.keys, key)
	}
	delete(st.keys, key)
	st.rev++
	for kw := range st.keyWatchers {
		if strings.HasPrefix(key, kw.prefix) {
			kw.sink.Deleted(key, st.rev)
		}
	}
}

// WatchKeys implements tooz.KVStore: sinks are called with the store's
// lock held, in commit order.
func (c *conn) WatchKeys(ctx context.Context, prefix string, sink tooz.KeySink) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if c.closed {
		return nil, tooz.ErrClosed
	}
	sink.Snapshot(c.st.list(prefix), c.st.rev)
	kw := &keyWatcher{prefix: prefix, sink: sink}
	c.st.keyWatchers[kw] = struct{}{}
	return func() {
		c.st.mu.Lock()
		defer c.st.mu.Unlock()
		delete(c.st.keyWatchers, kw)
	}, nil
}
