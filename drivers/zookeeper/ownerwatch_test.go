// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestOwnerWatchCountsChanges: the owner watch pushes once per change of
// the directory's children, also when one event of the one-shot watch
// covers several, so that a candidacy that stood down can count another
// member's grant and release (see tooz.OwnerWatcher and StandDown); and
// each push carries the owner it read.
func TestOwnerWatchCountsChanges(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	p := startProxy(t, srv.Addr)
	ctx := testutil.Context(t, time.Minute)
	a := open(t, "zookeeper://"+p.Addr()+"/ownerwatch", "a")
	b := open(t, "zookeeper://"+srv.Addr+"/ownerwatch", "b")
	name := unique("l")
	pushes := make(chan tooz.OwnerChange, 64)
	stop, err := drv(a).WatchOwner(ctx, tooz.Resource{Kind: tooz.KindLock, Name: name}, func(oc tooz.OwnerChange) { pushes <- oc })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	next := func(what string) tooz.OwnerChange {
		t.Helper()
		select {
		case oc := <-pushes:
			return oc
		case <-time.After(10 * time.Second):
			t.Fatalf("no push for %s", what)
			return tooz.OwnerChange{}
		}
	}
	l := b.Lock(name)

	// b's grant and release reach a's session as one event: its replies,
	// the event among them, are held back until both are done.
	p.stall()
	testutil.Must(t, l.Acquire(ctx), "b acquires")
	testutil.Must(t, l.Release(ctx), "b releases")
	p.unstall()
	for i := range 2 {
		if oc := next("b's grant and release"); !oc.Known || oc.Owner != "" {
			t.Fatalf("push %d for b's grant and release = %+v, want a known change to no owner", i+1, oc)
		}
	}

	// One change, one push: a third push for the two above would come
	// before this one, and name no owner.
	testutil.Must(t, l.Acquire(ctx), "b acquires again")
	if oc := next("b's second grant"); !oc.Known || oc.Owner != "b" {
		t.Fatalf("push after b's second grant = %+v, want a known change to b (one push per change, no more)", oc)
	}
	testutil.Must(t, l.Release(ctx), "b releases again")
	if oc := next("b's second release"); !oc.Known || oc.Owner != "" {
		t.Fatalf("push after b's second release = %+v, want a known change to no owner", oc)
	}
}

// TestDirVersionChanges: how many changes lead from one state of a
// resource directory to the next, across its deletion and re-creation (it
// is a container node).
func TestDirVersionChanges(t *testing.T) {
	for _, c := range []struct {
		was, now dirVersion
		want     int
	}{
		{dirVersion{}, dirVersion{}, 0},         // still absent
		{dirVersion{7, 3}, dirVersion{7, 3}, 0}, // a reconnection, nothing changed
		{dirVersion{7, 3}, dirVersion{7, 4}, 1}, // one child created or deleted
		{dirVersion{7, 3}, dirVersion{7, 5}, 2}, // two, in one event
		{dirVersion{7, 3}, dirVersion{}, 1},     // deleted once empty
		{dirVersion{}, dirVersion{9, 2}, 2},     // created, two children since
		{dirVersion{}, dirVersion{9, 0}, 1},     // created, still empty
		{dirVersion{7, 3}, dirVersion{9, 1}, 1}, // deleted and created again
		{dirVersion{7, 3}, versionOf(nil), 1},   // no stat: absent
	} {
		if got := c.now.changesSince(c.was); got != c.want {
			t.Errorf("%+v since %+v = %d changes, want %d", c.now, c.was, got, c.want)
		}
	}
}
