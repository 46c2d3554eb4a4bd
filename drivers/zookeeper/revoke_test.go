// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"errors"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestOwnerZnodeDeletedOutOfBand: an operator (or a buggy tool) deletes the
// owner znode of a lock and of a leadership while the holder's session
// lives. The next contender owns at once (it watches that znode), so the
// holder must see Lost() at once too, not only when it releases.
func TestOwnerZnodeDeletedOutOfBand(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	const timeout = 2 * time.Second
	url := "zookeeper://" + srv.Addr + "/revoke"
	g, lockName := unique("g"), unique("l")
	a := open(t, url, "a", tooz.WithTimeout(timeout))
	b := open(t, url, "b", tooz.WithTimeout(timeout))
	la := a.Lock(lockName)
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	lead, err := a.Campaign(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	got := contendBoth(ctx, t, b, lockName, g)
	raw := rawClient(t, srv.Addr)
	da := drv(a)
	deleted := time.Now()
	for _, res := range []tooz.Resource{{Kind: tooz.KindLock, Name: lockName}, {Kind: tooz.KindElection, Name: g}} {
		dir := da.resDir(res)
		children, _, err := raw.Children(dir)
		if err != nil {
			t.Fatal(err)
		}
		first := lowest(children)
		if data, _, err := raw.Get(dir + "/" + first); err != nil || string(data) != "a" {
			t.Fatalf("%s's first contender %s holds %q, %v; want a", dir, first, data, err)
		}
		if err := raw.Delete(dir+"/"+first, -1); err != nil {
			t.Fatal(err)
		}
	}
	// Well within the timeout: the delete, not a's deadline, must end them.
	testutil.WaitClosed(t, la.Lost(), timeout/2, "a's lock to be reported lost after its znode was deleted")
	testutil.WaitClosed(t, lead.Lost(), timeout/2, "a's leadership to end after its znode was deleted")
	t.Logf("both ownerships reported lost %v after the first of the two deletes began", time.Since(deleted))
	if !errors.Is(la.Err(), tooz.ErrSessionLost) {
		t.Fatalf("a's lock: Err() = %v, want ErrSessionLost", la.Err())
	}
	for range 2 {
		select {
		case tok := <-got:
			if tok == 0 {
				t.Fatal("b did not take over")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("b did not take over after a's znodes were deleted")
		}
	}
	if err := la.Release(ctx); !errors.Is(err, tooz.ErrLockNotHeld) {
		t.Fatalf("release of the revoked lock: %v", err)
	}
}

// TestLockFollowedByItsListing: an uncontended lock is followed by the
// child watch that the listing which made it the owner set, so that a
// cycle makes no exists request (create, list, delete, as zk.Lock); it is
// still reported lost when its znode is deleted out of band, and so is a
// lock won by hand-over, which an exists watch follows.
func TestLockFollowedByItsListing(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	p := startProxy(t, srv.Addr)
	ctx := testutil.Context(t, time.Minute)
	const timeout = 2 * time.Second
	a := open(t, "zookeeper://"+p.Addr()+"/dirwatch", "a", tooz.WithTimeout(timeout))
	b := open(t, "zookeeper://"+srv.Addr+"/dirwatch", "b", tooz.WithTimeout(timeout))
	raw := rawClient(t, srv.Addr)
	name := unique("l")
	dir := drv(a).resDir(tooz.Resource{Kind: tooz.KindLock, Name: name})
	deleteOwner := func(want string) time.Time { // when the delete was sent
		t.Helper()
		children, _, err := raw.Children(dir)
		if err != nil {
			t.Fatal(err)
		}
		first := lowest(children)
		if data, _, err := raw.Get(dir + "/" + first); err != nil || string(data) != want {
			t.Fatalf("the first contender %s holds %q, %v; want %s", first, data, err, want)
		}
		sent := time.Now()
		if err := raw.Delete(dir+"/"+first, -1); err != nil {
			t.Fatal(err)
		}
		return sent
	}

	l := a.Lock(name)
	before := p.requests(opExists)
	const cycles = 20
	for range cycles {
		if err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.requests(opExists) - before; n != 0 {
		t.Fatalf("%d uncontended lock cycles sent %d exists requests, want none", cycles, n)
	}

	if err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	began := deleteOwner("a")
	testutil.WaitClosed(t, l.Lost(), timeout/2, "a lock that its listing's watch follows to be reported lost after its znode was deleted")
	t.Logf("followed by the listing's watch: lost %v after the delete began", time.Since(began))

	// By hand-over: a waits behind b, and owns once b releases.
	lb := b.Lock(name)
	if err := lb.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- l.Acquire(ctx) }()
	for { // until a's znode is there, behind b's
		children, _, ev, err := raw.ChildrenW(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(children) == 2 {
			break
		}
		select {
		case <-ev:
		case <-ctx.Done():
			t.Fatal("a's contender znode did not appear")
		}
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	began = deleteOwner("a")
	testutil.WaitClosed(t, l.Lost(), timeout/2, "a lock won by hand-over to be reported lost after its znode was deleted")
	t.Logf("followed by an exists watch: lost %v after the delete began", time.Since(began))
}
