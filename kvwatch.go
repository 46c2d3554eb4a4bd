// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// KeyEventKind says what a KeyEvent reports.
type KeyEventKind int

// The kinds of KeyEvent.
const (
	KeysListed KeyEventKind = iota + 1 // the first event of a watch: every key under its prefix
	KeyPut                             // a key was written
	KeyDeleted                         // a key was deleted, or expired with its writer's liveness
)

func (k KeyEventKind) String() string {
	switch k {
	case KeysListed:
		return "listed"
	case KeyPut:
		return "put"
	case KeyDeleted:
		return "deleted"
	}
	return "KeyEventKind(?)"
}

// KeyEvent is delivered to KV.Watch functions.
type KeyEvent struct {
	Kind KeyEventKind
	// KeyValue is the key written, for KeyPut; for KeyDeleted, the key
	// and the revision of the deletion (0 where the backend does not
	// report it).
	KeyValue
	// Keys lists every key under the prefix, sorted, for KeysListed.
	Keys []KeyValue
	// Resync marks a KeyPut or KeyDeleted that is part of a difference:
	// the backend lost the history the watch needed (compaction, index
	// reset, reconnect), or the function fell more than MaxQueuedEvents
	// behind, and the keys were compared anew. Changes in between are
	// folded into the difference: no change is missed, none is reported
	// twice, and no key is reported that never existed.
	Resync bool
}

// Watch calls fn with a listing of every key that begins with prefix ("":
// all keys) as of one backend revision, then with every put and delete
// after it, in order, each once, pushed by the backend's native
// notification. When the backend lost the history the watch needed it
// lists the keys again and fn gets exactly the difference (Resync). Where
// the backend's notification is followed by a read (Consul, ZooKeeper,
// file), writes of one key between two notifications may arrive as the
// last one; every value reported was written, and the last always
// arrives. Calls
// are made one at a time, on a goroutine of the watch's own (inside
// RunWatchers for coordinators opened WithExplicitWatchers). ctx bounds
// setting the watch up only; Stop or Close ends it.
func (kv *KV) Watch(ctx context.Context, prefix string, fn func(KeyEvent)) (*Watch, error) {
	const op = "watch keys"
	if err := ValidatePrefix(prefix); err != nil {
		return nil, kvErr(err, op, prefix)
	}
	s, err := kv.store(op, prefix)
	if err != nil {
		return nil, err
	}
	c := kv.c
	w := &keyWatch{c: c, prefix: prefix, fn: fn}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, kvErr(ErrClosed, op, prefix)
	}
	c.keyWatches[w] = struct{}{}
	c.mu.Unlock()
	stop, err := s.WatchKeys(ctx, prefix, keySink{w})
	if err != nil {
		w.stop()
		return nil, kvErr(err, op, prefix)
	}
	w.mu.Lock()
	ended := w.ended
	if !ended {
		w.stopDrv = stop
	}
	w.mu.Unlock()
	if ended { // Close or Stop raced the setup
		stop()
		return nil, kvErr(ErrClosed, op, prefix)
	}
	return &Watch{stop: w.stop}, nil
}

// keyWatch is one KV.Watch: the keys as last queued and as last
// delivered, and the queue between, delivered in order one at a time.
type keyWatch struct {
	c      *Coordinator
	prefix string
	fn     func(KeyEvent)

	mu       sync.Mutex
	stopDrv  func()
	ended    bool                // stopped, or the coordinator closed: nothing more is queued
	stopped  bool                // Stop was called: nothing more is delivered
	listed   bool                // the driver's first snapshot arrived
	state    map[string]KeyValue // as of the last queued event
	given    map[string]KeyValue // as of the last delivered event; nil before the listing
	queue    []queuedKey
	draining bool
}

type queuedKey struct {
	ev KeyEvent
	at time.Time
}

// stop ends the watch: no call of fn starts after it returns.
func (w *keyWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.queue = nil
	w.mu.Unlock()
	w.end()
	w.c.mu.Lock()
	delete(w.c.keyWatches, w)
	w.c.mu.Unlock()
}

// end stops the driver's watch; what is queued is still delivered unless
// the watch was stopped.
func (w *keyWatch) end() {
	w.mu.Lock()
	w.ended = true
	stop := w.stopDrv
	w.stopDrv = nil
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// keySink is the watch seen as a KeySink.
type keySink struct{ w *keyWatch }

func (s keySink) Snapshot(kvs []KeyValue, rev uint64) {
	w := s.w
	next := make(map[string]KeyValue, len(kvs))
	for _, v := range kvs {
		if strings.HasPrefix(v.Key, w.prefix) {
			next[v.Key] = cloneKV(v)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	if !w.listed {
		w.listed = true
		w.state = next
		w.enqueueLocked(KeyEvent{Kind: KeysListed, Keys: sortedKeys(next)})
		return
	}
	old := w.state
	w.state = next
	for _, ev := range keyDiff(old, next, rev) {
		w.enqueueLocked(ev)
	}
}

func (s keySink) Put(v KeyValue) {
	w := s.w
	if !strings.HasPrefix(v.Key, w.prefix) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended || !w.listed {
		return
	}
	if cur, ok := w.state[v.Key]; ok && cur.Revision >= v.Revision {
		return // reported already, or older than what was
	}
	v = cloneKV(v)
	w.state[v.Key] = v
	w.enqueueLocked(KeyEvent{Kind: KeyPut, KeyValue: v})
}

func (s keySink) Deleted(key string, rev uint64) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended || !w.listed {
		return
	}
	cur, ok := w.state[key]
	if !ok || rev != 0 && cur.Revision > rev {
		return // not there, or written again after this delete
	}
	delete(w.state, key)
	w.enqueueLocked(KeyEvent{Kind: KeyDeleted, KeyValue: KeyValue{Key: key, Revision: rev}})
}

// keyDiff returns the events that turn old into next: deletes, then puts,
// each sorted by key, marked Resync.
func keyDiff(old, next map[string]KeyValue, rev uint64) []KeyEvent {
	var evs []KeyEvent
	for _, k := range slices.Sorted(maps.Keys(old)) {
		if _, ok := next[k]; !ok {
			evs = append(evs, KeyEvent{Kind: KeyDeleted, KeyValue: KeyValue{Key: k, Revision: rev}, Resync: true})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(next)) {
		n := next[k]
		if o, ok := old[k]; ok && o.Revision == n.Revision && o.Ephemeral == n.Ephemeral && bytes.Equal(o.Value, n.Value) {
			continue
		}
		evs = append(evs, KeyEvent{Kind: KeyPut, KeyValue: n, Resync: true})
	}
	return evs
}

func sortedKeys(m map[string]KeyValue) []KeyValue {
	out := make([]KeyValue, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sortKeys(out)
	return out
}

func (w *keyWatch) enqueueLocked(ev KeyEvent) {
	w.queue = append(w.queue, queuedKey{ev: ev, at: time.Now()})
	if len(w.queue) > MaxQueuedEvents+len(w.state)+len(w.given) {
		w.foldLocked()
	}
	if !w.c.explicit && !w.draining {
		w.draining = true
		go w.drain()
	}
}

// foldLocked replaces the queue by the difference between what fn was
// last given and the current keys.
func (w *keyWatch) foldLocked() {
	now := time.Now()
	if w.given == nil {
		w.queue = []queuedKey{{ev: KeyEvent{Kind: KeysListed, Keys: sortedKeys(w.state)}, at: now}}
		return
	}
	w.queue = w.queue[:0]
	for _, ev := range keyDiff(w.given, w.state, 0) {
		w.queue = append(w.queue, queuedKey{ev: ev, at: now})
	}
	w.c.log.Warn("tooz: a key watch fell behind; its waiting changes were folded into a difference",
		"prefix", w.prefix, "limit", MaxQueuedEvents)
}

// drain delivers queued events until the queue is empty and returns how
// many calls it made.
func (w *keyWatch) drain() int {
	if w.c.explicit {
		w.mu.Lock()
		if w.draining {
			w.mu.Unlock()
			return 0
		}
		w.draining = true
		w.mu.Unlock()
	}
	n := 0
	for {
		w.mu.Lock()
		if len(w.queue) == 0 || w.stopped {
			w.draining = false
			w.mu.Unlock()
			return n
		}
		q := w.queue[0]
		w.queue[0] = queuedKey{}
		w.queue = w.queue[1:]
		switch q.ev.Kind {
		case KeysListed:
			w.given = make(map[string]KeyValue, len(q.ev.Keys))
			for _, v := range q.ev.Keys {
				w.given[v.Key] = v
			}
		case KeyPut:
			w.given[q.ev.Key] = q.ev.KeyValue
		case KeyDeleted:
			delete(w.given, q.ev.Key)
		}
		w.mu.Unlock()
		ev := q.ev
		ev.Value = bytes.Clone(ev.Value)
		if ev.Keys != nil {
			ev.Keys = slices.Clone(ev.Keys)
			for i := range ev.Keys {
				ev.Keys[i].Value = bytes.Clone(ev.Keys[i].Value)
			}
		}
		w.c.obs.Delivered(w.c.scheme, "key_"+ev.Kind.String(), time.Since(q.at))
		w.fn(ev)
		n++
	}
}

// keyWatchList returns the coordinator's key watches, by prefix.
func (c *Coordinator) keyWatchList() []*keyWatch {
	c.mu.Lock()
	ws := make([]*keyWatch, 0, len(c.keyWatches))
	for w := range c.keyWatches {
		ws = append(ws, w)
	}
	c.mu.Unlock()
	sort.Slice(ws, func(i, j int) bool { return ws[i].prefix < ws[j].prefix })
	return ws
}
