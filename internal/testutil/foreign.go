// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// CheckFirstJoin waits up to d for the first member ID on joined (a
// join watch's events, started before foreign data was written) and fails
// t unless it is want: the foreign data must not show up as a join.
func CheckFirstJoin(t testing.TB, joined <-chan string, want string, d time.Duration) {
	t.Helper()
	select {
	case m := <-joined:
		if m != want {
			t.Fatalf("first join event after the garbage: %q, want %s", m, want)
		}
	case <-time.After(d):
		t.Fatal("no join event for " + want)
	}
}

// CheckOnlyAB fails t unless c lists group g alone and, in it, exactly
// the members "a" and "b" with the capabilities "caps-a" and "caps-b": the
// state the drivers' foreign-data tests set up beside what they forge.
func CheckOnlyAB(t testing.TB, ctx context.Context, c *tooz.Coordinator, g string) {
	t.Helper()
	gs, err := c.Groups(ctx)
	if err != nil || !slices.Equal(gs, []string{g}) {
		t.Fatalf("groups = %q, %v; want only %q", gs, err, g)
	}
	ms, err := c.MembersInfo(ctx, g)
	Must(t, err, "members info")
	if len(ms) != 2 || ms[0].ID != "a" || string(ms[0].Capabilities) != "caps-a" || ms[1].ID != "b" || string(ms[1].Capabilities) != "caps-b" {
		t.Fatalf("members = %+v, want a and b with their capabilities", ms)
	}
}

// CheckKVForeign checks that foreign entries in a key/value namespace are
// skipped: with a watch of every key in place, it calls forge (which
// writes what tooz never writes, beside the keys), then puts the key "ok"
// through c. The watch must report "ok" and nothing else, and listings
// and reads must show "ok" alone.
func CheckKVForeign(t testing.TB, ctx context.Context, c *tooz.Coordinator, forge func()) {
	t.Helper()
	events := make(chan tooz.KeyEvent, 64)
	w, err := c.KV().Watch(ctx, "", func(e tooz.KeyEvent) { events <- e })
	Must(t, err, "watch keys")
	defer w.Stop()
	if e := <-events; e.Kind != tooz.KeysListed || len(e.Keys) != 0 {
		t.Fatalf("first event %v with %d keys, want an empty listing", e.Kind, len(e.Keys))
	}
	forge()
	_, err = c.KV().Put(ctx, "ok", []byte("fine"))
	Must(t, err, "put ok")
	select {
	case e := <-events:
		if e.Kind != tooz.KeyPut || e.Key != "ok" || string(e.Value) != "fine" {
			t.Fatalf("first event after the forgery: %v %q=%q, want the put of ok", e.Kind, e.Key, e.Value)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event for the put of ok")
	}
	kvs, err := c.KV().List(ctx, "")
	Must(t, err, "list")
	if len(kvs) != 1 || kvs[0].Key != "ok" {
		t.Fatalf("list = %+v, want ok alone", kvs)
	}
	v, err := c.KV().Get(ctx, "ok")
	if err != nil || string(v.Value) != "fine" {
		t.Fatalf("get ok = %q, %v", v.Value, err)
	}
}
