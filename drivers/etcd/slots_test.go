// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestUnsureSlotIsNeverReused: a slot whose key saw a request go
// unanswered stays taken after its key is deleted, so that a late delete
// of that key cannot remove a later contender's; a clean slot is reused.
func TestUnsureSlotIsNeverReused(t *testing.T) {
	c := &conn{}
	l := &lease{id: 0x2a, slots: map[string]map[int]struct{}{}}
	a := c.newContender(l, "p/")
	c.free(a)
	if b := c.newContender(l, "p/"); b.key != a.key {
		t.Fatalf("a freed clean slot was not reused: %q after %q", b.key, a.key)
	} else {
		c.markUnsure(b)
		c.free(b)
	}
	if d := c.newContender(l, "p/"); d.key == a.key {
		t.Fatalf("the unsure slot's key %q was given out again", d.key)
	}
	e := c.newContender(l, "q/")
	c.orphans = &driverkit.Pending[*contender]{}
	c.orphan(e) // a failed delete
	c.free(e)   // ... deleted by a later heartbeat
	if f := c.newContender(l, "q/"); f.key == e.key {
		t.Fatalf("an orphan's key %q was given out again", f.key)
	}
}

// TestReleaseSparesTheSlotsNextKey: a Release is a plain delete of the
// slot's key, so an ownership must never delete the key of a later
// contender of its slot. After its key was deleted out of band (the slot
// freed and reused), its Release deletes nothing; a deletion seen while a
// Release is under way (its delete in flight) leaves the slot taken; and
// one reported after the Release does not free the slot a second time.
func TestReleaseSparesTheSlotsNextKey(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	raw := rawClient(t, s)
	d := open(t, testURL(s), "a").Driver().(*conn)
	res := tooz.Resource{Kind: tooz.KindLock, Name: testutil.Unique("lock")}
	acquire := func() *ownership {
		t.Helper()
		o, err := d.Acquire(ctx, res, true)
		if err != nil {
			t.Fatal(err)
		}
		return o.(*ownership)
	}

	first := acquire()
	if _, err := raw.Delete(ctx, first.ct.key); err != nil {
		t.Fatal(err)
	}
	testutil.WaitClosed(t, first.Lost(), testTimeout, "the ownership to end after its key was deleted")
	second := acquire()
	if second.ct.key != first.ct.key {
		t.Fatalf("the freed slot was not reused (%q after %q): the test checks nothing", second.ct.key, first.ct.key)
	}
	if err := first.Release(ctx); !errors.Is(err, tooz.ErrLockNotHeld) {
		t.Fatalf("Release of the revoked ownership = %v, want ErrLockNotHeld", err)
	}
	if resp, err := raw.Get(ctx, second.ct.key, clientv3.WithCountOnly()); err != nil || resp.Count != 1 {
		t.Fatalf("the slot's next key after the revoked ownership's Release: count %v, %v; want it kept", resp, err)
	}

	// The window between a Release's claim and its delete: the slot is
	// the Release's to free, once its delete is done.
	second.settled.Store(true)
	d.ownedKeyGone(second)
	if second.Ended() {
		t.Fatal("a deletion seen while a Release was under way ended the ownership (and freed its slot) before the Release's delete")
	}
	second.settled.Store(false)
	testutil.Must(t, second.Release(ctx), "release")
	third := acquire()
	d.ownedKeyGone(second) // the deletion of second's key, reported late
	d.mu.Lock()
	_, taken := third.ct.l.slots[third.ct.prefix][third.ct.slot]
	d.mu.Unlock()
	if !taken {
		t.Fatalf("a late deletion event of a released ownership freed slot %d, which a live ownership holds", third.ct.slot)
	}
	testutil.Must(t, third.Release(ctx), "release")
}
