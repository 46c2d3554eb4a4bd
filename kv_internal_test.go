// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
)

// newTestKeyWatch returns a key watch of an explicit-mode coordinator:
// nothing is delivered until drain, so a test sees exactly what is queued.
func newTestKeyWatch(prefix string) (*keyWatch, *[]KeyEvent) {
	var got []KeyEvent
	c := &Coordinator{explicit: true, log: slog.New(slog.NewTextHandler(io.Discard, nil)), obs: noObserver{}, scheme: "test"}
	w := &keyWatch{c: c, prefix: prefix, fn: func(e KeyEvent) { got = append(got, e) }}
	return w, &got
}

func brief(evs []KeyEvent) []string {
	var out []string
	for _, e := range evs {
		s := e.Kind.String() + " " + e.Key
		if e.Kind == KeyPut {
			s += fmt.Sprintf("=%s@%d", e.Value, e.Revision)
		}
		if e.Kind == KeysListed {
			for _, k := range e.Keys {
				s += fmt.Sprintf(" %s=%s@%d", k.Key, k.Value, k.Revision)
			}
		}
		if e.Resync {
			s += " (resync)"
		}
		out = append(out, s)
	}
	return out
}

func kv(key, value string, rev uint64) KeyValue {
	return KeyValue{Key: key, Value: []byte(value), Revision: rev}
}

// TestKeySinkDropsWhatWasReported: a put at or below the known revision,
// a delete of an unknown key or one older than the known write, and keys
// outside the prefix are no events; a snapshot after the first is turned
// into exactly the difference, marked Resync.
func TestKeySinkDropsWhatWasReported(t *testing.T) {
	w, got := newTestKeyWatch("p/")
	s := keySink{w}
	s.Put(kv("p/early", "x", 1)) // before the listing: the listing has it
	s.Snapshot([]KeyValue{kv("p/a", "1", 5), kv("p/b", "1", 6), kv("q/outside", "1", 7)}, 7)
	s.Put(kv("p/a", "1", 5))   // reported by the listing
	s.Put(kv("p/a", "old", 4)) // older than what is known
	s.Put(kv("q/x", "no", 8))  // outside the prefix
	s.Put(kv("p/a", "2", 9))   // new
	s.Deleted("p/zzz", 10)     // never seen
	s.Deleted("p/a", 8)        // older than the known write at 9
	s.Deleted("p/b", 11)       // real
	s.Deleted("p/b", 12)       // twice
	s.Put(kv("p/c", "1", 13))  // new key
	s.Snapshot([]KeyValue{kv("p/a", "2", 9), kv("p/c", "2", 15), kv("p/d", "1", 14)}, 15)
	s.Snapshot([]KeyValue{kv("p/a", "2", 9), kv("p/c", "2", 15), kv("p/d", "1", 14)}, 16) // nothing changed
	w.drain()
	want := []string{
		"listed  p/a=1@5 p/b=1@6",
		"put p/a=2@9",
		"deleted p/b",
		"put p/c=1@13",
		"put p/c=2@15 (resync)",
		"put p/d=1@14 (resync)",
	}
	if b := brief(*got); !slices.Equal(b, want) {
		t.Fatalf("events\n%q\nwant\n%q", b, want)
	}
}

// TestKeyWatchFoldsWhenBehind: a function that falls more than
// MaxQueuedEvents behind gets the difference between what it was given
// and the current keys, not every change.
func TestKeyWatchFoldsWhenBehind(t *testing.T) {
	w, got := newTestKeyWatch("")
	s := keySink{w}
	s.Snapshot([]KeyValue{kv("gone", "0", 1), kv("kept", "0", 2)}, 2)
	w.drain()
	rev := uint64(2)
	for i := range MaxQueuedEvents + 100 {
		rev++
		s.Put(kv(fmt.Sprintf("k%d", i%7), fmt.Sprint(i), rev))
	}
	s.Deleted("gone", rev+1)
	w.drain()
	evs := (*got)[1:]
	if len(evs) > 100+8 {
		t.Fatalf("%d events after falling behind; want the folded difference (at most %d)", len(evs), 100+8)
	}
	state := map[string]string{"gone": "0", "kept": "0"}
	resync := 0
	for _, e := range evs {
		if e.Resync {
			resync++
		}
		switch e.Kind {
		case KeyPut:
			state[e.Key] = string(e.Value)
		case KeyDeleted:
			delete(state, e.Key)
		}
	}
	if resync == 0 {
		t.Fatal("no event is marked Resync after the fold")
	}
	want := map[string]string{"kept": "0"}
	for i := MaxQueuedEvents + 100 - 7; i < MaxQueuedEvents+100; i++ {
		want[fmt.Sprintf("k%d", i%7)] = fmt.Sprint(i)
	}
	if fmt.Sprint(state) != fmt.Sprint(want) {
		t.Fatalf("replayed state %v, want %v", state, want)
	}
}
