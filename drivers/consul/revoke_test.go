// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestOwnerKeyDeletedOutOfBand: an operator deletes a lock's owner key
// (consul kv delete) while the holder's session lives. The holder, which
// got the lock after waiting in the queue, must see Lost() within the
// timeout, and the lock must not stay blocked by its queue entry. It runs
// with the holder's key followed by a query of its own and by the shared
// query (holdings.go).
func TestOwnerKeyDeletedOutOfBand(t *testing.T) {
	s := testserver.StartConsul(t)
	raw := rawClient(t, s)
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "solo", true: "shared"}[shared], func(t *testing.T) {
			ownerKeyDeletedOutOfBand(t, s, raw, shared)
		})
	}
}

func ownerKeyDeletedOutOfBand(t *testing.T, s *testserver.Server, raw *api.Client, shared bool) {
	h := newHarness(s, "")
	ctx := testutil.Context(t, time.Minute)
	a, b := open(t, h, "a"), open(t, h, "b")
	if shared {
		a.Driver().(*conn).soloHoldings = 0
	}
	name := testutil.Unique("lock")
	la, lb := a.Lock(name), b.Lock(name)
	testutil.Must(t, lb.Acquire(ctx), "b locks")
	got := make(chan error, 1)
	go func() { got <- la.Acquire(ctx) }()
	waitQueued(t, raw, h.ownerKey(t, tooz.KindLock, name))
	testutil.Must(t, lb.Release(ctx), "b releases")
	select {
	case err := <-got:
		testutil.Must(t, err, "a locks after waiting")
	case <-time.After(10 * time.Second):
		t.Fatal("a did not get the lock")
	}
	if _, err := raw.KV().Delete(h.ownerKey(t, tooz.KindLock, name), nil); err != nil {
		t.Fatal(err)
	}
	testutil.WaitClosed(t, la.Lost(), testTimeout, "a's lock to be reported lost after its owner key was deleted")
	go func() { got <- lb.Acquire(ctx) }()
	select {
	case err := <-got:
		testutil.Must(t, err, "b locks again")
	case <-time.After(10 * time.Second):
		t.Fatal("the lock stayed blocked after the owner key was deleted")
	}
}

// waitQueued waits until a contender queues for the lock whose owner key
// is ownerKey.
func waitQueued(t *testing.T, raw *api.Client, ownerKey string) {
	t.Helper()
	prefix := strings.TrimSuffix(ownerKey, "owner") + "q/"
	ctx := testutil.Context(t, 10*time.Second)
	var index uint64
	for {
		// A blocking query: it answers when the prefix changes.
		ps, meta, err := raw.KV().List(prefix, (&api.QueryOptions{RequireConsistent: true, WaitIndex: index, WaitTime: time.Second}).WithContext(ctx))
		if err == nil && len(ps) > 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("nobody queued under %s: %v", prefix, err)
		}
		if err == nil {
			index = meta.LastIndex
		}
	}
}
