// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestQuickJoinLeavePairsAllSeen makes one member join and leave three
// times without waiting: a one-shot child watch, re-armed by a listing,
// sees none of it; the persistent watch reports all six changes, in order.
func TestQuickJoinLeavePairsAllSeen(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	url := "zookeeper://" + srv.Addr + "/quick"
	g := unique("g")
	w := open(t, url, "w")
	a := open(t, url, "a")
	marker := open(t, url, "marker")
	if err := w.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	ev := watchGroup(t, w, g)
	if n := drv(w).persistentWatches.Load(); n != 1 {
		t.Fatalf("%d persistent watches started, want 1 (ZooKeeper %s has AddWatch)", n, "3.6+")
	}
	for range 3 {
		if err := a.JoinGroup(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
		if err := a.LeaveGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := marker.JoinGroup(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	ev.waitFor(t, 10*time.Second, "join marker")
	ev.mu.Lock()
	got := slices.Clone(ev.evs)
	ev.mu.Unlock()
	want := []string{"join a", "leave a", "join a", "leave a", "join a", "leave a", "join marker"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// TestPersistentWatchIgnoresForeignZnodes writes znodes that are not
// members (a persistent znode, a name tooz would not write, a grandchild)
// into a watched group: none becomes an event, and the watch goes on.
func TestPersistentWatchIgnoresForeignZnodes(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	url := "zookeeper://" + srv.Addr + "/foreign"
	g := unique("g")
	w := open(t, url, "w")
	a := open(t, url, "a")
	if err := a.JoinGroupCreate(ctx, g, []byte("caps-a")); err != nil {
		t.Fatal(err)
	}
	seen := make(chan tooz.MembershipEvent, 16)
	wm, err := w.WatchMembers(ctx, g, func(e tooz.MembershipEvent) { seen <- e })
	if err != nil {
		t.Fatal(err)
	}
	defer wm.Stop()
	z := rawClient(t, srv.Addr)
	gp := "/foreign/tooz/groups/" + keyspace.Escape(g)
	for _, p := range []string{gp + "/" + keyspace.Escape("persistent"), gp + "/bad%zz", gp + "/" + keyspace.Escape("persistent") + "/deeper"} {
		if _, err := z.Create(p, []byte("garbage"), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	if _, err := z.Set(gp+"/"+keyspace.Escape("persistent"), []byte("more garbage"), -1); err != nil {
		t.Fatal(err)
	}
	b := open(t, url, "b")
	if err := b.JoinGroup(ctx, g, []byte("caps-b")); err != nil {
		t.Fatal(err)
	}
	var got []tooz.MembershipEvent
	deadline := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case e := <-seen:
			got = append(got, e)
		case <-deadline:
			t.Fatalf("events so far %v; b's join never came", got)
		}
	}
	if len(got) != 2 || got[0].Kind != tooz.MembershipSnapshot || len(got[0].Members) != 1 ||
		got[1].Kind != tooz.MembershipJoined || got[1].Member.ID != "b" || string(got[1].Member.Capabilities) != "caps-b" {
		t.Fatalf("events %v, want a snapshot of a, then b's join with its capabilities, nothing foreign", got)
	}
}
