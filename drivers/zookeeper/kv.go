// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
)

// The key/value namespace: key K is the znode <root>/kv/escape(K), its
// data the value, its mzxid the revision; an ephemeral key is an
// ephemeral znode of the coordinator's session. A znode cannot change
// between ephemeral and persistent, nor pass to another session: such a
// write deletes and re-creates it in one multi, which watchers see as a
// delete and a put. Every other write is a versioned setData.

var _ tooz.KVStore = (*conn)(nil)

func (c *conn) kvDir() string            { return c.root + "/kv" }
func (c *conn) kvPath(key string) string { return c.kvDir() + "/" + keyspace.Escape(key) }

// keyValue decodes a key znode.
func keyValue(name string, data []byte, st *zk.Stat) (tooz.KeyValue, bool) {
	key, err := keyspace.Unescape(name)
	if err != nil {
		return tooz.KeyValue{}, false
	}
	return tooz.KeyValue{Key: key, Value: bytes.Clone(data), Revision: uint64(st.Mzxid), Ephemeral: st.EphemeralOwner != 0}, true
}

// GetKey implements tooz.KVStore: a sync, so that the read is not older
// than any write that completed before it, then a read.
func (c *conn) GetKey(ctx context.Context, key string) (tooz.KeyValue, error) {
	s, err := c.live()
	if err != nil {
		return tooz.KeyValue{}, err
	}
	if err := c.sync(ctx, s); err != nil {
		return tooz.KeyValue{}, c.mapErr(err)
	}
	var kv tooz.KeyValue
	err = c.retry(ctx, s, func(int) error {
		data, st, err := get(ctx, s, c.kvPath(key))
		if errors.Is(err, zk.ErrNoNode) {
			return tooz.ErrKeyNotFound
		}
		if err == nil {
			kv, _ = keyValue(keyspace.Escape(key), data, st)
		}
		return err
	})
	return kv, c.mapErr(err)
}

// ListKeys implements tooz.KVStore: a sync, the children, then their data
// in pipelined batches (see readNodes).
func (c *conn) ListKeys(ctx context.Context, prefix string) ([]tooz.KeyValue, error) {
	s, err := c.live()
	if err != nil {
		return nil, err
	}
	if err := c.sync(ctx, s); err != nil {
		return nil, c.mapErr(err)
	}
	ep := keyspace.Escape(prefix)
	var out []tooz.KeyValue
	err = c.retry(ctx, s, func(int) error {
		children, err := call(ctx, func() ([]string, error) {
			ch, _, err := s.zk.Children(c.kvDir())
			return ch, err
		})
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		var names []string
		for _, n := range children {
			if !strings.HasPrefix(n, ep) {
				continue
			}
			if _, err := keyspace.Unescape(n); err != nil {
				c.log.Warn("tooz: ignoring a znode that is not a key", "path", c.kvDir()+"/"+n)
				continue
			}
			names = append(names, n)
		}
		nodes, err := c.readNodes(ctx, s, c.kvDir(), names)
		if err != nil {
			return err
		}
		out = out[:0]
		for i := range nodes {
			if kv, ok := keyValue(nodes[i].name, nodes[i].data, &nodes[i].st); ok {
				out = append(out, kv)
			}
		}
		return nil
	})
	return out, c.mapErr(err)
}

// errAgain asks a write loop to read the key again: it changed between
// the read and the write.
var errAgain = errors.New("zookeeper: the key changed meanwhile")

// PutKey implements tooz.KVStore: read the key's stat, then a versioned
// setData, a create, or a delete and create in one multi, each ending
// with a setData that returns the new stat. An unconditional write whose
// key changed meanwhile starts over; a conditional one is a conflict. A
// conditional write is not retried after a lost connection (it may have
// been applied): that is ErrConnection.
func (c *conn) PutKey(ctx context.Context, key string, value []byte, w tooz.KeyWrite) (uint64, error) {
	s, err := c.live()
	if err != nil {
		return 0, err
	}
	p := c.kvPath(key)
	flags, owner := int32(zk.FlagPersistent), int64(0)
	if w.Ephemeral {
		flags, owner = zk.FlagEphemeral, s.zk.SessionID()
	}
	var rev uint64
	attempt := func() error {
		ok, st, err := exists(ctx, s, p)
		if err != nil {
			return err
		}
		if w.Check && (ok && uint64(st.Mzxid) != w.Revision || !ok && w.Revision != 0) {
			return tooz.ErrConflict
		}
		create := []any{
			&zk.CreateRequest{Path: p, Data: value, Acl: c.acl, Flags: flags},
			&zk.SetDataRequest{Path: p, Data: value, Version: 0},
		}
		var ops []any
		switch {
		case !ok:
			ops = create
		case st.EphemeralOwner == owner:
			nst, err := call(ctx, func() (*zk.Stat, error) { return s.zk.Set(p, value, st.Version) })
			if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
				return errAgain
			}
			if err == nil {
				rev = uint64(nst.Mzxid)
			}
			return err
		default:
			ops = append([]any{&zk.DeleteRequest{Path: p, Version: st.Version}}, create...)
		}
		res, err := call(ctx, func() ([]zk.MultiResponse, error) { return s.zk.Multi(ops...) })
		switch {
		case err == nil && len(res) == len(ops) && res[len(res)-1].Stat != nil:
			rev = uint64(res[len(res)-1].Stat.Mzxid)
			return nil
		case err == nil:
			return fmt.Errorf("zookeeper: the multi returned no stat")
		case !ok && errors.Is(err, zk.ErrNoNode): // no kv directory yet
			if err := c.ensurePath(ctx, s, c.kvDir()); err != nil {
				return err
			}
			return errAgain
		case errors.Is(err, zk.ErrNodeExists), errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrNoNode):
			return errAgain
		}
		return err
	}
	for {
		if w.Check {
			err = attempt()
		} else {
			err = c.retry(ctx, s, func(int) error { return attempt() })
		}
		switch {
		case errors.Is(err, errAgain) && w.Check:
			return 0, tooz.ErrConflict
		case errors.Is(err, errAgain):
			continue
		case err != nil:
			return 0, c.mapErr(err)
		}
		return rev, nil
	}
}

// DeleteKey implements tooz.KVStore: an unversioned delete, or a read of
// the stat and a versioned delete.
func (c *conn) DeleteKey(ctx context.Context, key string, w tooz.KeyWrite) error {
	s, err := c.live()
	if err != nil {
		return err
	}
	p := c.kvPath(key)
	if !w.Check {
		notFound := false
		err := c.retry(ctx, s, func(attempt int) error {
			_, err := call(ctx, func() (struct{}, error) { return struct{}{}, s.zk.Delete(p, -1) })
			if errors.Is(err, zk.ErrNoNode) {
				notFound = attempt == 0 // else an earlier attempt may have deleted it
				return nil
			}
			return err
		})
		if err != nil {
			return c.mapErr(err)
		}
		if notFound {
			return tooz.ErrKeyNotFound
		}
		return nil
	}
	ok, st, err := exists(ctx, s, p)
	if err != nil {
		return c.mapErr(err)
	}
	if !ok || uint64(st.Mzxid) != w.Revision {
		return tooz.ErrConflict
	}
	_, err = call(ctx, func() (struct{}, error) { return struct{}{}, s.zk.Delete(p, st.Version) })
	if errors.Is(err, zk.ErrNoNode) || errors.Is(err, zk.ErrBadVersion) {
		return tooz.ErrConflict
	}
	return c.mapErr(err)
}

// WatchKeys implements tooz.KVStore with a persistent recursive watch on
// the key directory (ZooKeeper 3.6+; older servers: ErrNotSupported).
// Each change is read after its notification, on the watch's connection,
// so a read is never older than the notifications before it; when the
// connection is lost, the watch lists the keys again as a new snapshot.
func (c *conn) WatchKeys(ctx context.Context, prefix string, sink tooz.KeySink) (func(), error) {
	if _, err := c.live(); err != nil {
		return nil, err
	}
	if c.noPersistent.Load() {
		return nil, fmt.Errorf("%w: key watches need ZooKeeper 3.6+ (persistent watches)", tooz.ErrNotSupported)
	}
	w, err := c.startPersistent(ctx, c.kvDir(), keyView{c: c, ep: keyspace.Escape(prefix), sink: sink})
	switch {
	case errors.Is(err, errNoPersistentWatch):
		c.noPersistent.Store(true)
		return nil, fmt.Errorf("%w: key watches need ZooKeeper 3.6+ (persistent watches)", tooz.ErrNotSupported)
	case errors.Is(err, tooz.ErrAuth), ctx.Err() != nil:
		return nil, c.mapErr(err)
	case err != nil:
		return nil, fmt.Errorf("%w: key watch: %v", tooz.ErrConnection, err)
	}
	return c.keepPersistent(w)
}

// keyView reports the keys under an escaped prefix.
type keyView struct {
	c    *conn
	ep   string
	sink tooz.KeySink
}

func (v keyView) what() string { return "keys " + v.ep }

func (v keyView) follows(name string) bool {
	if !strings.HasPrefix(name, v.ep) {
		return false
	}
	if _, err := keyspace.Unescape(name); err != nil {
		v.c.log.Warn("tooz: ignoring a znode that is not a key", "path", v.c.kvDir()+"/"+name)
		return false
	}
	return true
}

func (v keyView) snapshot(nodes []pnode, zxid int64) {
	kvs := make([]tooz.KeyValue, 0, len(nodes))
	for i := range nodes {
		if kv, ok := keyValue(nodes[i].name, nodes[i].data, &nodes[i].st); ok {
			kvs = append(kvs, kv)
		}
	}
	v.sink.Snapshot(kvs, uint64(max(zxid, 0)))
}

func (v keyView) change(pd *pending) {
	switch {
	case pd.kind == evNodeDeleted:
		if key, err := keyspace.Unescape(pd.name); err == nil {
			v.sink.Deleted(key, 0)
		}
	case pd.found: // created or changed; else gone before the read, and its deletion follows
		if kv, ok := keyValue(pd.name, pd.data, &pd.st); ok {
			v.sink.Put(kv)
		}
	}
}
