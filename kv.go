// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"unicode/utf8"
)

// MaxValueLength is the largest value, in bytes, that KV.Put stores on
// every driver.
const MaxValueLength = 256 << 10

// KeyValue is one key of a coordinator's key/value namespace.
type KeyValue struct {
	Key   string
	Value []byte
	// Revision changes with every write of the key and only grows, across
	// a delete and a re-creation too: the backend's revision or index of
	// the last write (etcd mod revision, Consul modify index, ZooKeeper
	// mzxid, a counter kept by the Redis, file and memory drivers). A
	// conditional write (IfRevision) compares it.
	Revision uint64
	// Ephemeral reports a key bound to the liveness of the coordinator
	// that last wrote it (see Ephemeral).
	Ephemeral bool
}

// KeyWrite says how a driver writes or deletes a key.
type KeyWrite struct {
	// Check makes the write conditional: it happens only when the key's
	// current revision is Revision, or, for Revision 0, when the key does
	// not exist. Otherwise it fails with ErrConflict.
	Check    bool
	Revision uint64
	// Ephemeral binds the key to the writing coordinator's liveness (Put only).
	Ephemeral bool
}

// KeySink receives a driver's view of the keys under one prefix. The
// driver calls it from one goroutine at a time, in the order the backend
// changed; its methods return quickly and never call back into the driver.
// The sink keeps no reference to the values it is given.
type KeySink interface {
	// Snapshot reports every key under the prefix as of one backend
	// revision (rev, 0 when unknown): once before WatchKeys returns, and
	// again whenever the driver lost track of changes (compaction, index
	// reset, reconnect, session move, overflow) and listed them anew. The
	// Coordinator turns the difference into events.
	Snapshot(kvs []KeyValue, rev uint64)
	// Put reports a key written after the last listing. Reporting a
	// revision already reported is harmless.
	Put(kv KeyValue)
	// Deleted reports a key deleted (or expired with its writer's
	// liveness) after the last listing, with the revision of the
	// deletion where the driver knows it, else 0.
	Deleted(key string, rev uint64)
}

// KVStore is implemented by drivers that keep a key/value namespace
// inside the coordinator's namespace. The Coordinator checks keys (valid
// IDs), prefixes and values (at most MaxValueLength) before calling.
// Without it, the methods of KV fail with ErrNotSupported.
type KVStore interface {
	// GetKey reads one key, or fails with ErrKeyNotFound.
	GetKey(ctx context.Context, key string) (KeyValue, error)
	// ListKeys reads every key that begins with prefix (all keys for ""),
	// as of one backend revision, in any order.
	ListKeys(ctx context.Context, prefix string) ([]KeyValue, error)
	// PutKey writes key and returns its new revision; a write whose
	// condition fails is ErrConflict. An ephemeral write binds the key to
	// this coordinator's current liveness; a plain one unbinds it.
	PutKey(ctx context.Context, key string, value []byte, w KeyWrite) (uint64, error)
	// DeleteKey deletes key: ErrKeyNotFound when it does not exist and
	// the delete is unconditional, ErrConflict when the condition fails.
	// A conditional delete always names a revision (not 0: the
	// Coordinator answers "delete if absent" itself).
	DeleteKey(ctx context.Context, key string, w KeyWrite) error
	// WatchKeys follows every key that begins with prefix through the
	// backend's native notification: sink.Snapshot before it returns,
	// then every change after that snapshot. The returned stop function
	// ends the watch; after it returns the sink is not called.
	WatchKeys(ctx context.Context, prefix string, sink KeySink) (stop func(), err error)
}

// KV is a coordinator's key/value namespace: keys (valid IDs) with values
// of up to MaxValueLength bytes, kept by the backend inside the
// coordinator's namespace, apart from groups, locks and elections. Each
// key carries a revision for compare-and-swap, and may be bound to the
// liveness of the coordinator that wrote it. Prefix watches report a
// snapshot, then every change, and stay exact across lost history.
type KV struct{ c *Coordinator }

// KV returns the coordinator's key/value namespace.
func (c *Coordinator) KV() *KV { return &KV{c: c} }

// WriteOption makes a Put or Delete conditional or ephemeral.
type WriteOption func(*KeyWrite)

// IfRevision makes a Put or Delete happen only when the key's current
// revision is rev; IfRevision(0) means "only when the key does not
// exist". Otherwise the write fails with ErrConflict and changes nothing.
func IfRevision(rev uint64) WriteOption {
	return func(w *KeyWrite) { w.Check, w.Revision = true, rev }
}

// IfAbsent makes a Put create the key only when it does not exist: IfRevision(0).
func IfAbsent() WriteOption { return IfRevision(0) }

// Ephemeral binds a Put key to the writing coordinator's liveness: the key
// is deleted when the coordinator closes (at once), crashes (within the
// liveness timeout) or loses its session, on every backend, and watchers
// see the deletion. It is not written again when a new session starts. A
// later plain Put of the key, by any coordinator, makes it durable again.
// Delete rejects it.
func Ephemeral() WriteOption { return func(w *KeyWrite) { w.Ephemeral = true } }

func (kv *KV) store(op, key string) (KVStore, error) {
	if err := kv.c.check(); err != nil {
		return nil, kvErr(err, op, key)
	}
	s, ok := kv.c.drv.(KVStore)
	if !ok {
		return nil, kvErr(ErrNotSupported, op, key)
	}
	return s, nil
}

func kvErr(err error, op, key string) error {
	if err == nil {
		return nil
	}
	e := wrap(err, op, "", "", "").(*Error)
	e.Key = key
	return e
}

// ValidatePrefix reports whether p can prefix keys: empty, or valid UTF-8
// of at most MaxIDLength bytes. The error wraps ErrInvalidID.
func ValidatePrefix(p string) error {
	switch {
	case len(p) > MaxIDLength:
		return fmt.Errorf("%w: prefix of %d bytes, longer than %d", ErrInvalidID, len(p), MaxIDLength)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: prefix %q is not valid UTF-8", ErrInvalidID, p)
	}
	return nil
}

// Get reads key. It fails with ErrKeyNotFound when the key does not exist.
func (kv *KV) Get(ctx context.Context, key string) (KeyValue, error) {
	const op = "get key"
	if err := ValidateID(key); err != nil {
		return KeyValue{}, kvErr(err, op, key)
	}
	s, err := kv.store(op, key)
	if err != nil {
		return KeyValue{}, err
	}
	v, err := s.GetKey(ctx, key)
	if err != nil {
		return KeyValue{}, kvErr(err, op, key)
	}
	if v.Value == nil {
		v.Value = []byte{}
	}
	return v, nil
}

// List reads every key that begins with prefix ("" for all), as of one
// backend revision, sorted by key.
func (kv *KV) List(ctx context.Context, prefix string) ([]KeyValue, error) {
	const op = "list keys"
	if err := ValidatePrefix(prefix); err != nil {
		return nil, kvErr(err, op, prefix)
	}
	s, err := kv.store(op, prefix)
	if err != nil {
		return nil, err
	}
	kvs, err := s.ListKeys(ctx, prefix)
	if err != nil {
		return nil, kvErr(err, op, prefix)
	}
	for i := range kvs {
		if kvs[i].Value == nil {
			kvs[i].Value = []byte{}
		}
	}
	sortKeys(kvs)
	return kvs, nil
}

func sortKeys(kvs []KeyValue) {
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
}

// Put writes value under key and returns the key's new revision. With
// IfRevision it fails with ErrConflict unless the key is at that
// revision; with Ephemeral the key lives only as long as this
// coordinator's liveness. A value over MaxValueLength is ErrValueTooLarge,
// reported before any I/O.
func (kv *KV) Put(ctx context.Context, key string, value []byte, opts ...WriteOption) (uint64, error) {
	const op = "put key"
	if err := ValidateID(key); err != nil {
		return 0, kvErr(err, op, key)
	}
	if len(value) > MaxValueLength {
		return 0, kvErr(fmt.Errorf("%w: %d bytes exceed %d", ErrValueTooLarge, len(value), MaxValueLength), op, key)
	}
	var w KeyWrite
	for _, o := range opts {
		o(&w)
	}
	s, err := kv.store(op, key)
	if err != nil {
		return 0, err
	}
	if value == nil {
		value = []byte{}
	}
	rev, err := s.PutKey(ctx, key, value, w)
	return rev, kvErr(err, op, key)
}

// Delete deletes key. It fails with ErrKeyNotFound when the key does not
// exist, and with IfRevision, with ErrConflict unless the key is at that
// revision (a key deleted meanwhile is a conflict too).
func (kv *KV) Delete(ctx context.Context, key string, opts ...WriteOption) error {
	const op = "delete key"
	if err := ValidateID(key); err != nil {
		return kvErr(err, op, key)
	}
	var w KeyWrite
	for _, o := range opts {
		o(&w)
	}
	if w.Ephemeral {
		return kvErr(fmt.Errorf("%w: Ephemeral applies to Put only", ErrNotSupported), op, key)
	}
	s, err := kv.store(op, key)
	if err != nil {
		return err
	}
	if w.Check && w.Revision == 0 {
		// "Only if absent": a key that must not exist cannot be deleted.
		return kvErr(fmt.Errorf("%w: IfRevision(0) deletes nothing", ErrConflict), op, key)
	}
	return kvErr(s.DeleteKey(ctx, key, w), op, key)
}

func cloneKV(v KeyValue) KeyValue {
	v.Value = bytes.Clone(v.Value)
	if v.Value == nil {
		v.Value = []byte{}
	}
	return v
}
