// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestKVForeignData: keys in the key/value namespace that no tooz key
// escapes to are skipped by listings and watches, with a log line.
func TestKVForeignData(t *testing.T) {
	s := testserver.StartConsul(t)
	ctx := testutil.Context(t, time.Minute)
	h := newHarness(s, "")
	c := open(t, h, "a")
	root := h.keys(t).kvKey("")
	kv := rawClient(t, s).KV()
	testutil.CheckKVForeign(t, ctx, c, func() {
		for _, k := range []string{"not.escaped", "%FF", "lower%2f", "a/b", "dir/"} {
			if _, err := kv.Put(&api.KVPair{Key: root + k, Value: []byte("forged")}, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestKVWatchIndexReset restores an older snapshot, which sends Consul's
// indexes backwards (as a restarted cluster restored from backup does): the
// key watch must notice, list again and report exactly the difference.
func TestKVWatchIndexReset(t *testing.T) {
	s := testserver.StartConsul(t)
	raw := rawClient(t, s)
	h := newHarness(s, "")
	ctx := testutil.Context(t, time.Minute)
	a := open(t, h, "a")
	w := open(t, h, "w")
	_, err := a.KV().Put(ctx, "k/kept", []byte("1"))
	testutil.Must(t, err, "put kept")
	_, err = a.KV().Put(ctx, "k/changed", []byte("old"))
	testutil.Must(t, err, "put changed")
	snap, _, err := raw.Snapshot().Save(nil)
	testutil.Must(t, err, "save snapshot")
	data, err := io.ReadAll(snap)
	snap.Close()
	testutil.Must(t, err, "read snapshot")
	events := make(chan tooz.KeyEvent, 16)
	kw, err := w.KV().Watch(ctx, "k/", func(e tooz.KeyEvent) { events <- e })
	testutil.Must(t, err, "watch")
	defer kw.Stop()
	next := func(what string) tooz.KeyEvent {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(eventWait):
			t.Fatalf("no event for %s within %v", what, eventWait)
			return tooz.KeyEvent{}
		}
	}
	next("the listing")
	_, err = a.KV().Put(ctx, "k/added", []byte("after the snapshot"))
	testutil.Must(t, err, "put added")
	_, err = a.KV().Put(ctx, "k/changed", []byte("new"))
	testutil.Must(t, err, "put changed")
	next("added")
	next("changed")
	restored := time.Now()
	testutil.Must(t, raw.Snapshot().Restore(nil, bytes.NewReader(data)), "restore snapshot")
	var got []string
	for len(got) < 2 {
		e := next("the difference after the restore")
		got = append(got, e.Kind.String()+" "+e.Key+"="+string(e.Value))
	}
	t.Logf("difference reported %v after the restore: %q", time.Since(restored).Round(time.Millisecond), got)
	slices.Sort(got)
	if want := []string{"deleted k/added=", "put k/changed=old"}; !slices.Equal(got, want) {
		t.Fatalf("after the restore: %q, want %q", got, want)
	}
	// The watch goes on from the restored index.
	_, err = a.KV().Put(ctx, "k/later", []byte("x"))
	testutil.Must(t, err, "put later")
	if e := next("a put after the restore"); e.Kind != tooz.KeyPut || e.Key != "k/later" {
		t.Fatalf("after the restore: %v %q, want the put of k/later", e.Kind, e.Key)
	}
}
