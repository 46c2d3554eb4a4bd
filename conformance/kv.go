// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// HistoryBreaker is implemented by harnesses that can make the live key
// watches of c lose the history they need, as the backend does on its own
// at times: etcd compacting past the revision a watch must resume from, a
// Redis subscription killed (messages published meanwhile are gone), a
// ZooKeeper connection cut, an inotify queue overflowing, a Consul index
// going back. BreakHistory cuts the watches off, calls during (which
// changes keys) while they are, makes sure that what during changed cannot
// be replayed to them, and lets them go on; it returns during's error.
// The watches must then list the keys again and report exactly the
// difference. Other changes may go on at the same time.
type HistoryBreaker interface {
	BreakHistory(ctx context.Context, t *testing.T, c *tooz.Coordinator, during func() error) error
}

var kvTests = []test{
	{"KVPutGetListDelete", testKVBasics},
	{"KVKeysRoundTrip", testKVKeysRoundTrip},
	{"KVCompareAndSwap", testKVCompareAndSwap},
	{"KVConcurrentIncrements", testKVIncrements},
	{"KVBadInputBeforeIO", testKVBadInput},
	{"KVEphemeralGoneOnClose", testKVEphemeralOnClose},
	{"KVEphemeralGoneAfterCrash", testKVEphemeralAfterCrash},
	{"KVEphemeralMadeDurable", testKVEphemeralMadeDurable},
	{"KVWatchListsThenChanges", testKVWatchOrder},
	{"KVWatchResyncReportsExactlyTheDifference", testKVWatchResync},
	{"KVWatchExactUnderStormAndResync", testKVWatchStorm},
}

// kvOf returns c's key/value namespace, skipping the subtest when the
// driver does not implement tooz.KVStore (it is optional for drivers
// outside this module; every driver in it implements it).
func (f *fixture) kvOf(c *tooz.Coordinator) *tooz.KV {
	f.Helper()
	kv := c.KV()
	if _, err := kv.Get(f.ctx, f.name("probe")); errors.Is(err, tooz.ErrNotSupported) {
		f.Skipf("the driver does not implement tooz.KVStore: %v", err)
	}
	return kv
}

func (f *fixture) get(kv *tooz.KV, key string, want string) tooz.KeyValue {
	f.Helper()
	got, err := kv.Get(f.ctx, key)
	f.must(err, "get "+key)
	if got.Key != key || string(got.Value) != want || got.Revision == 0 {
		f.Fatalf("get %q = %q %q rev %d, want value %q and a revision", key, got.Key, got.Value, got.Revision, want)
	}
	return got
}

func (f *fixture) gone(kv *tooz.KV, key string) {
	f.Helper()
	_, err := kv.Get(f.ctx, key)
	f.wantErr(err, tooz.ErrKeyNotFound, "get "+key)
}

// keysOf renders a listing as "key=value" strings.
func keysOf(kvs []tooz.KeyValue) []string {
	out := make([]string, len(kvs))
	for i, v := range kvs {
		out[i] = v.Key + "=" + string(v.Value)
	}
	return out
}

func testKVBasics(f *fixture) {
	ctx := f.ctx
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	ka, kb := f.kvOf(a), f.kvOf(b)
	p := f.name("kv/")
	f.gone(kb, p+"x")
	r1, err := ka.Put(ctx, p+"x", []byte("one"))
	f.must(err, "put x")
	got := f.get(kb, p+"x", "one")
	if got.Revision != r1 || got.Ephemeral {
		f.Fatalf("b reads x at revision %d ephemeral %v, a wrote revision %d durable", got.Revision, got.Ephemeral, r1)
	}
	r2, err := kb.Put(ctx, p+"x", []byte("two"))
	f.must(err, "put x again")
	if r2 <= r1 {
		f.Fatalf("a second write got revision %d, not above the first's %d", r2, r1)
	}
	f.get(ka, p+"x", "two")
	_, err = ka.Put(ctx, p+"empty", nil)
	f.must(err, "put an empty value")
	if v := f.get(kb, p+"empty", ""); v.Value == nil {
		f.Fatal("an empty value reads back as nil, want an empty slice")
	}
	big := bytes.Repeat([]byte{0, 1, 2, 0xff}, tooz.MaxValueLength/4)
	_, err = ka.Put(ctx, p+"big", big)
	f.must(err, "put a value of MaxValueLength bytes")
	if v, err := kb.Get(ctx, p+"big"); err != nil || !bytes.Equal(v.Value, big) {
		f.Fatalf("the largest value does not round-trip: %d bytes, %v", len(v.Value), err)
	}
	_, err = ka.Put(ctx, f.name("other"), []byte("outside"))
	f.must(err, "put a key outside the prefix")
	list, err := kb.List(ctx, p)
	f.must(err, "list")
	want := []string{p + "big=" + string(big), p + "empty=", p + "x=two"}
	if !slices.Equal(keysOf(list), want) {
		f.Fatalf("list %q = %d keys %.80q, want the three keys under it, sorted", p, len(list), keysOf(list))
	}
	f.must(kb.Delete(ctx, p+"x"), "delete x")
	f.gone(ka, p+"x")
	f.wantErr(ka.Delete(ctx, p+"x"), tooz.ErrKeyNotFound, "delete x twice")
	r3, err := ka.Put(ctx, p+"x", []byte("three"))
	f.must(err, "put x after its delete")
	if r3 <= r2 {
		f.Fatalf("x re-created at revision %d, not above its last write's %d", r3, r2)
	}
	all, err := ka.List(ctx, "")
	f.must(err, "list everything")
	n := 0
	for _, v := range all {
		if strings.HasPrefix(v.Key, f.prefix) {
			n++
		}
	}
	if n != 4 {
		f.Fatalf("listing every key shows %d of this test's 4 keys", n)
	}
}

func testKVKeysRoundTrip(f *fixture) {
	ctx := f.ctx
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	ka, kb := f.kvOf(a), f.kvOf(b)
	p := f.name("rt/")
	keys := []string{
		p + "plain", p + "with/slash", p + "with space", p + "per%cent", p + "dots..", p + "ünïcödé ☃",
		p + "colon:{brace}", p + "a*b?[c]", p + "tab\tnew\nline", p + strings.Repeat("z", tooz.MaxIDLength-len(p)),
	}
	for i, k := range keys {
		_, err := ka.Put(ctx, k, []byte{byte(i)})
		f.must(err, fmt.Sprintf("put %q", k))
	}
	list, err := kb.List(ctx, p)
	f.must(err, "list")
	var got []string
	for _, v := range list {
		got = append(got, v.Key)
		if want := slices.Index(keys, v.Key); want < 0 || !bytes.Equal(v.Value, []byte{byte(want)}) {
			f.Fatalf("listed %q = %v: not a key written, or with another key's value", v.Key, v.Value)
		}
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		f.Fatalf("keys listed\n%q\nwant\n%q", got, want)
	}
	// A prefix is bytes, not path segments: "with" covers "with/slash" and "with space".
	sub, err := kb.List(ctx, p+"with")
	f.must(err, "list a sub-prefix")
	if len(sub) != 2 || sub[0].Key != p+"with space" || sub[1].Key != p+"with/slash" {
		f.Fatalf("list %q = %q", p+"with", keysOf(sub))
	}
	for _, k := range keys {
		f.must(kb.Delete(ctx, k), fmt.Sprintf("delete %q", k))
	}
	if list, err := ka.List(ctx, p); err != nil || len(list) != 0 {
		f.Fatalf("after deleting every key: %q, %v", keysOf(list), err)
	}
}

func testKVCompareAndSwap(f *fixture) {
	ctx := f.ctx
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	ka, kb := f.kvOf(a), f.kvOf(b)
	k := f.name("cas")
	r1, err := ka.Put(ctx, k, []byte("v1"), tooz.IfAbsent())
	f.must(err, "create with IfAbsent")
	_, err = kb.Put(ctx, k, []byte("lost"), tooz.IfAbsent())
	f.wantErr(err, tooz.ErrConflict, "IfAbsent on an existing key")
	r2, err := kb.Put(ctx, k, []byte("v2"), tooz.IfRevision(r1))
	f.must(err, "swap at the current revision")
	_, err = ka.Put(ctx, k, []byte("stale"), tooz.IfRevision(r1))
	f.wantErr(err, tooz.ErrConflict, "swap at a stale revision")
	f.get(ka, k, "v2")
	f.wantErr(ka.Delete(ctx, k, tooz.IfRevision(r1)), tooz.ErrConflict, "delete at a stale revision")
	f.get(kb, k, "v2")
	f.wantErr(ka.Delete(ctx, k, tooz.IfRevision(0)), tooz.ErrConflict, "delete IfRevision(0) of an existing key")
	f.must(ka.Delete(ctx, k, tooz.IfRevision(r2)), "delete at the current revision")
	f.gone(kb, k)
	_, err = kb.Put(ctx, k, []byte("ghost"), tooz.IfRevision(r2))
	f.wantErr(err, tooz.ErrConflict, "swap of a deleted key at its last revision")
	f.gone(ka, k)
	f.wantErr(kb.Delete(ctx, k, tooz.IfRevision(r2)), tooz.ErrConflict, "conditional delete of a deleted key")
	r3, err := kb.Put(ctx, k, []byte("v3"), tooz.IfRevision(0))
	f.must(err, "re-create with IfRevision(0)")
	if r3 <= r2 {
		f.Fatalf("re-created at revision %d, not above %d", r3, r2)
	}
	// An ephemeral key swaps like any other.
	r4, err := ka.Put(ctx, k, []byte("v4"), tooz.IfRevision(r3), tooz.Ephemeral())
	f.must(err, "ephemeral swap")
	if v := f.get(kb, k, "v4"); !v.Ephemeral || v.Revision != r4 {
		f.Fatalf("after an ephemeral swap: ephemeral %v revision %d, want true %d", v.Ephemeral, v.Revision, r4)
	}
	_, err = kb.Put(ctx, k, []byte("stale"), tooz.IfRevision(r3))
	f.wantErr(err, tooz.ErrConflict, "swap at the revision before the ephemeral write")
}

// testKVIncrements has two coordinators increment one counter with
// compare-and-swap: no increment may be lost.
func testKVIncrements(f *fixture) {
	const workers, each = 3, 15
	k := f.name("counter")
	first := f.kvOf(f.open(f.name("w0")))
	_, err := first.Put(f.ctx, k, []byte("0"))
	f.must(err, "create the counter")
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		kv := first
		if w > 0 {
			kv = f.open(f.name(fmt.Sprintf("w%d", w))).KV()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				for {
					cur, err := kv.Get(f.ctx, k)
					if err != nil {
						errs <- err
						return
					}
					var n int
					fmt.Sscan(string(cur.Value), &n)
					_, err = kv.Put(f.ctx, k, []byte(fmt.Sprint(n+1)), tooz.IfRevision(cur.Revision))
					if err == nil {
						break
					}
					if !errors.Is(err, tooz.ErrConflict) {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		f.Fatalf("increment: %v", err)
	}
	f.get(first, k, fmt.Sprint(workers*each))
}

func testKVBadInput(f *fixture) {
	ctx := f.ctx
	c, err := f.h.Open(ctx, f.T, f.name("closed"))
	f.must(err, "open")
	if _, err := c.KV().Get(ctx, f.name("probe")); errors.Is(err, tooz.ErrNotSupported) {
		_ = c.Close(ctx)
		f.Skipf("the driver does not implement tooz.KVStore: %v", err)
	}
	f.must(c.Close(ctx), "close")
	// A closed coordinator does no I/O: the input is checked first.
	kv := c.KV()
	for _, key := range []string{"", strings.Repeat("k", tooz.MaxIDLength+1), "bad\xffutf8"} {
		_, err := kv.Put(ctx, key, nil)
		f.wantErr(err, tooz.ErrInvalidID, fmt.Sprintf("put %q", key))
		_, err = kv.Get(ctx, key)
		f.wantErr(err, tooz.ErrInvalidID, fmt.Sprintf("get %q", key))
		f.wantErr(kv.Delete(ctx, key), tooz.ErrInvalidID, fmt.Sprintf("delete %q", key))
	}
	for _, p := range []string{strings.Repeat("p", tooz.MaxIDLength+1), "bad\xff"} {
		_, err := kv.List(ctx, p)
		f.wantErr(err, tooz.ErrInvalidID, fmt.Sprintf("list %q", p))
		_, err = kv.Watch(ctx, p, func(tooz.KeyEvent) {})
		f.wantErr(err, tooz.ErrInvalidID, fmt.Sprintf("watch %q", p))
	}
	_, err = kv.Put(ctx, f.name("k"), make([]byte, tooz.MaxValueLength+1))
	f.wantErr(err, tooz.ErrValueTooLarge, "a value over MaxValueLength")
	f.wantErr(kv.Delete(ctx, f.name("k"), tooz.Ephemeral()), tooz.ErrNotSupported, "an ephemeral delete")
	_, err = kv.Put(ctx, f.name("k"), nil)
	f.wantErr(err, tooz.ErrClosed, "good input on a closed coordinator")

	// Nothing stored is touched by a rejected write.
	live := f.kvOf(f.open(f.name("live")))
	k := f.name("kept")
	_, err = live.Put(ctx, k, []byte("kept"))
	f.must(err, "put")
	_, err = live.Put(ctx, k, make([]byte, tooz.MaxValueLength+1))
	f.wantErr(err, tooz.ErrValueTooLarge, "an oversized overwrite")
	f.get(live, k, "kept")
}

// keyRecorder records a watch's events.
func (f *fixture) watchKeys(kv *tooz.KV, prefix string) (*recorder[tooz.KeyEvent], *tooz.Watch) {
	f.Helper()
	r := newRecorder[tooz.KeyEvent]()
	w, err := kv.Watch(f.ctx, prefix, r.add)
	f.must(err, "watch "+prefix)
	f.Cleanup(w.Stop)
	return r, w
}

// hasKeyEvent reports whether evs holds an event of kind for key (and value, unless nil).
func hasKeyEvent(evs []tooz.KeyEvent, kind tooz.KeyEventKind, key string, value []byte) bool {
	for _, e := range evs {
		if e.Kind == kind && e.Key == key && (value == nil || bytes.Equal(e.Value, value)) {
			return true
		}
	}
	return false
}

func testKVEphemeralOnClose(f *fixture) {
	ctx := f.ctx
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	ka, kb := f.kvOf(a), f.kvOf(b)
	p := f.name("eph/")
	_, err := ka.Put(ctx, p+"session", []byte("a's"), tooz.Ephemeral())
	f.must(err, "ephemeral put")
	_, err = ka.Put(ctx, p+"durable", []byte("stays"))
	f.must(err, "durable put")
	if v := f.get(kb, p+"session", "a's"); !v.Ephemeral {
		f.Fatal("an ephemeral key reads back as durable")
	}
	evs, _ := f.watchKeys(kb, p)
	f.must(a.Close(ctx), "a closes")
	f.gone(kb, p+"session") // at once: no waiting for a timeout
	f.get(kb, p+"durable", "stays")
	evs.waitFor(f, 10*time.Second, "the ephemeral key's deletion", func(e []tooz.KeyEvent) bool {
		return hasKeyEvent(e, tooz.KeyDeleted, p+"session", nil)
	})
}

func testKVEphemeralAfterCrash(f *fixture) {
	ctx := f.ctx
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	ka, kb := f.kvOf(a), f.kvOf(b)
	p := f.name("crash/")
	_, err := ka.Put(ctx, p+"session", []byte("a's"), tooz.Ephemeral())
	f.must(err, "ephemeral put")
	_, err = ka.Put(ctx, p+"durable", []byte("stays"))
	f.must(err, "durable put")
	evs, _ := f.watchKeys(kb, p)
	crashed := time.Now()
	f.crash(a)
	evs.waitFor(f, f.bound+slack, "the crashed writer's ephemeral key to expire", func(e []tooz.KeyEvent) bool {
		return hasKeyEvent(e, tooz.KeyDeleted, p+"session", nil)
	})
	f.Logf("ephemeral key gone %v after the crash (bound %v)", time.Since(crashed).Round(time.Millisecond), f.bound)
	f.gone(kb, p+"session")
	f.get(kb, p+"durable", "stays")
}

func testKVEphemeralMadeDurable(f *fixture) {
	ctx := f.ctx
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	ka, kb := f.kvOf(a), f.kvOf(b)
	p := f.name("handover/")
	_, err := ka.Put(ctx, p+"plain", []byte("a"), tooz.Ephemeral())
	f.must(err, "a's ephemeral put")
	_, err = kb.Put(ctx, p+"plain", []byte("b"))
	f.must(err, "b's plain put over it")
	_, err = ka.Put(ctx, p+"taken", []byte("a"), tooz.Ephemeral())
	f.must(err, "a's ephemeral put")
	_, err = kb.Put(ctx, p+"taken", []byte("b"), tooz.Ephemeral())
	f.must(err, "b's ephemeral put over it")
	_, err = ka.Put(ctx, p+"back", []byte("a1"), tooz.Ephemeral())
	f.must(err, "a's ephemeral put")
	_, err = ka.Put(ctx, p+"back", []byte("a2"))
	f.must(err, "a's own plain put over it")
	if v := f.get(kb, p+"back", "a2"); v.Ephemeral {
		f.Fatal("a plain put of an ephemeral key left it ephemeral")
	}
	f.must(a.Close(ctx), "a closes")
	f.get(kb, p+"plain", "b")
	f.get(kb, p+"taken", "b")
	f.get(kb, p+"back", "a2")
	f.must(b.Close(ctx), "b closes")
	kc := f.open(f.name("c")).KV()
	f.get(kc, p+"plain", "b")
	f.gone(kc, p+"taken")
	f.get(kc, p+"back", "a2")
}

// brief renders a key event as the tests compare it.
func briefKey(e tooz.KeyEvent) string {
	switch e.Kind {
	case tooz.KeysListed:
		return "listed[" + strings.Join(keysOf(e.Keys), " ") + "]"
	case tooz.KeyDeleted:
		return "deleted " + e.Key
	}
	eph := ""
	if e.Ephemeral {
		eph = " (ephemeral)"
	}
	return "put " + e.Key + "=" + string(e.Value) + eph
}

func testKVWatchOrder(f *fixture) {
	ctx := f.ctx
	a, w := f.open(f.name("a")), f.open(f.name("w"))
	e := f.open(f.name("e"))
	ka, kw, ke := f.kvOf(a), f.kvOf(w), f.kvOf(e)
	p := f.name("watch/")
	_, err := ka.Put(ctx, p+"before", []byte("0"))
	f.must(err, "put before the watch")
	_, err = ka.Put(ctx, f.name("watch-outside"), []byte("no"))
	f.must(err, "put outside the prefix")
	evs, _ := f.watchKeys(kw, p)
	revs := map[string]uint64{}
	steps := []struct {
		do   func() (uint64, error)
		want string
	}{
		{func() (uint64, error) { return ka.Put(ctx, p+"k1", []byte("a")) }, "put " + p + "k1=a"},
		{func() (uint64, error) { return ka.Put(ctx, p+"k2", []byte("b")) }, "put " + p + "k2=b"},
		{func() (uint64, error) { return ka.Put(ctx, f.name("watch-outside"), []byte("still no")) }, ""},
		{func() (uint64, error) { return ka.Put(ctx, p+"k1", []byte("c")) }, "put " + p + "k1=c"},
		{func() (uint64, error) { return 0, ka.Delete(ctx, p+"k2") }, "deleted " + p + "k2"},
		{func() (uint64, error) { return ke.Put(ctx, p+"k3", []byte("d"), tooz.Ephemeral()) }, "put " + p + "k3=d (ephemeral)"},
		{func() (uint64, error) { return 0, e.Close(ctx) }, "deleted " + p + "k3"},
		{func() (uint64, error) { return ka.Put(ctx, p+"before", []byte("1")) }, "put " + p + "before=1"},
	}
	want := []string{"listed[" + p + "before=0]"}
	evs.waitFor(f, 10*time.Second, "the listing", func(e []tooz.KeyEvent) bool { return len(e) >= 1 })
	for i, s := range steps {
		rev, err := s.do()
		f.must(err, fmt.Sprintf("step %d", i))
		if s.want == "" {
			continue
		}
		want = append(want, s.want)
		got := evs.waitFor(f, 10*time.Second, s.want, func(e []tooz.KeyEvent) bool { return len(e) >= len(want) })
		last := got[len(want)-1]
		if rev != 0 && last.Revision != rev {
			f.Fatalf("%s delivered with revision %d, the write returned %d", s.want, last.Revision, rev)
		}
		if last.Kind == tooz.KeyPut {
			if last.Revision <= revs[last.Key] {
				f.Fatalf("%s: revision %d not above the key's last %d", s.want, last.Revision, revs[last.Key])
			}
			revs[last.Key] = last.Revision
		}
	}
	got := evs.snapshot()
	var briefs []string
	for _, e := range got {
		briefs = append(briefs, briefKey(e))
		if e.Resync {
			f.Errorf("event %s marked Resync with no history lost", briefKey(e))
		}
	}
	if !slices.Equal(briefs, want) {
		f.Fatalf("events\n%q\nwant\n%q", briefs, want)
	}
}

// write is one change the storm made.
type write struct {
	key   string
	rev   uint64 // 0 for a delete
	value string
}

// testKVWatchStorm changes keys as fast as it can while a watch follows
// them and, where the harness can, makes the watch lose its history in
// the middle. Whatever the backend folds, the events must replay to the
// final listing, with no phantom (a value never written at that
// revision), no duplicate and no revision going back.
func testKVWatchStorm(f *fixture) {
	ctx := f.ctx
	a, w := f.open(f.name("a")), f.open(f.name("w"))
	ka, kw := f.kvOf(a), f.kvOf(w)
	p := f.name("storm/")
	keys := []string{p + "0", p + "1", p + "2", p + "3", p + "4"}
	for _, k := range keys[:2] {
		_, err := ka.Put(ctx, k, []byte("init"))
		f.must(err, "put "+k)
	}
	evs, _ := f.watchKeys(kw, p)

	var (
		mu      sync.Mutex
		written = map[write]bool{}
	)
	stormCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		rnd := rand.New(rand.NewPCG(1, 2))
		n := 0
		for stormCtx.Err() == nil {
			k := keys[rnd.IntN(len(keys))]
			n++
			if rnd.IntN(4) == 0 {
				if err := ka.Delete(ctx, k); err != nil && !errors.Is(err, tooz.ErrKeyNotFound) {
					done <- err
					return
				}
				continue
			}
			v := fmt.Sprint(n)
			rev, err := ka.Put(ctx, k, []byte(v))
			if err != nil {
				done <- err
				return
			}
			mu.Lock()
			written[write{k, rev, v}] = true
			mu.Unlock()
		}
		done <- nil
	}()
	// Let the storm run, break the watch's history where the harness
	// can, and let it run on.
	evs.waitFor(f, 10*time.Second, "changes during the storm", func(e []tooz.KeyEvent) bool { return len(e) >= 20 })
	broke := false
	if hb, ok := f.h.(HistoryBreaker); ok {
		f.must(hb.BreakHistory(ctx, f.T, w, func() error { return nil }), "break the watch's history")
		broke = true
	}
	n := len(evs.snapshot())
	evs.waitFor(f, 10*time.Second, "changes after the break", func(e []tooz.KeyEvent) bool { return len(e) >= n+20 })
	stop()
	f.must(<-done, "storm")

	final, err := ka.List(ctx, p)
	f.must(err, "final listing")
	want := strings.Join(keysOf(final), " ")
	var state map[string]tooz.KeyValue
	replay := func(evs []tooz.KeyEvent) (string, error) {
		state = map[string]tooz.KeyValue{}
		for i, e := range evs {
			switch {
			case i == 0 && e.Kind != tooz.KeysListed, i > 0 && e.Kind == tooz.KeysListed:
				return "", fmt.Errorf("event %d is %s", i, e.Kind)
			case e.Kind == tooz.KeysListed:
				for _, v := range e.Keys {
					state[v.Key] = v
				}
			case e.Kind == tooz.KeyPut:
				if old, ok := state[e.Key]; ok && e.Revision <= old.Revision && !e.Resync {
					return "", fmt.Errorf("event %d: put %s at revision %d, not above %d", i, e.Key, e.Revision, old.Revision)
				}
				mu.Lock()
				ok := written[write{e.Key, e.Revision, string(e.Value)}] || string(e.Value) == "init"
				mu.Unlock()
				if !ok {
					return "", fmt.Errorf("event %d: phantom put %s=%s at revision %d", i, e.Key, e.Value, e.Revision)
				}
				state[e.Key] = e.KeyValue
			case e.Kind == tooz.KeyDeleted:
				if _, ok := state[e.Key]; !ok {
					return "", fmt.Errorf("event %d: delete of %s, which the watch did not show", i, e.Key)
				}
				delete(state, e.Key)
			}
		}
		var kvs []tooz.KeyValue
		for _, v := range state {
			kvs = append(kvs, v)
		}
		slices.SortFunc(kvs, func(x, y tooz.KeyValue) int { return strings.Compare(x.Key, y.Key) })
		return strings.Join(keysOf(kvs), " "), nil
	}
	var replayErr error
	got := evs.waitFor(f, 15*time.Second, "the watch to reach the final listing "+want, func(e []tooz.KeyEvent) bool {
		s, err := replay(e)
		replayErr = err
		return err != nil || s == want
	})
	if replayErr != nil {
		f.Fatalf("%v\nevents: %d", replayErr, len(got))
	}
	resync := 0
	for _, e := range got {
		if e.Resync {
			resync++
		}
	}
	f.Logf("%d events, %d of them Resync, history broken: %v, %d writes", len(got), resync, broke, len(written))
}

// testKVWatchResync makes changes while the watch is cut off from its
// history: the watch must report exactly their net effect — a key created
// and deleted in between is never seen, a key written twice is reported
// once with its last value.
func testKVWatchResync(f *fixture) {
	hb, ok := f.h.(HistoryBreaker)
	if !ok {
		f.Skip("the harness cannot make a watch lose its history (conformance.HistoryBreaker): the storm test covers the watch")
	}
	ctx := f.ctx
	a, w := f.open(f.name("a")), f.open(f.name("w"))
	ka, kw := f.kvOf(a), f.kvOf(w)
	p := f.name("resync/")
	for _, k := range []string{"del", "upd", "same", "twice"} {
		_, err := ka.Put(ctx, p+k, []byte("old"))
		f.must(err, "put "+k)
	}
	evs, _ := f.watchKeys(kw, p)
	evs.waitFor(f, 10*time.Second, "the listing", func(e []tooz.KeyEvent) bool { return len(e) >= 1 })
	put := func(k, v string) error { _, err := ka.Put(ctx, p+k, []byte(v)); return err }
	f.must(hb.BreakHistory(ctx, f.T, w, func() error {
		for _, step := range []func() error{
			func() error { return ka.Delete(ctx, p+"del") },
			func() error { return put("upd", "new") },
			func() error { return put("ghost", "never seen") },
			func() error { return ka.Delete(ctx, p+"ghost") },
			func() error { return put("twice", "first") },
			func() error { return put("twice", "second") },
			func() error { return put("born", "new") },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	}), "break the watch's history")
	want := []string{"deleted " + p + "del", "put " + p + "born=new", "put " + p + "twice=second", "put " + p + "upd=new"}
	evs.waitFor(f, 15*time.Second, "the difference", func(e []tooz.KeyEvent) bool { return len(e) >= 1+len(want) })
	// The marker write comes after the difference, so once it is seen
	// nothing more of the difference can come.
	f.must(put("marker", "m"), "put the marker")
	got := evs.waitFor(f, 10*time.Second, "the marker", func(e []tooz.KeyEvent) bool {
		return hasKeyEvent(e, tooz.KeyPut, p+"marker", []byte("m"))
	})
	var briefs []string
	for _, e := range got[1:] {
		briefs = append(briefs, briefKey(e))
	}
	last := briefs[len(briefs)-1]
	diff := slices.Clone(briefs[:len(briefs)-1])
	slices.Sort(diff)
	if !slices.Equal(diff, want) || last != "put "+p+"marker=m" {
		f.Fatalf("events after the break\n%q\nwant (in any order, then the marker)\n%q", briefs, want)
	}
}
