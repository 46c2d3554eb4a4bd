// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

// A watcher that falls far behind does not make the coordinator hold every
// change: past MaxQueuedEvents the waiting changes are replaced by the
// current state, a Resync snapshot for WatchMembers hooks and the
// difference for the others, and nothing after that is lost.
func TestSlowWatcherGetsFreshState(t *testing.T) {
	ctx := context.Background()
	url := fmt.Sprintf("memory://slow-%d", time.Now().UnixNano())
	w, err := tooz.Open(ctx, url, "watcher", tooz.WithExplicitWatchers())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	a, err := tooz.Open(ctx, url, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	b, err := tooz.Open(ctx, url, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if err := w.CreateGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	var typed []tooz.MembershipEvent
	state := map[string]string{}
	wm, err := w.WatchMembers(ctx, "g", func(e tooz.MembershipEvent) {
		typed = append(typed, e)
		switch e.Kind {
		case tooz.MembershipSnapshot:
			clear(state)
			for _, m := range e.Members {
				state[m.ID] = string(m.Capabilities)
			}
		case tooz.MembershipLeft:
			delete(state, e.Member.ID)
		default:
			state[e.Member.ID] = string(e.Member.Capabilities)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer wm.Stop()
	var joins []string
	lastUpdate := ""
	wj, err := w.WatchJoinGroup(ctx, "g", func(e tooz.MemberJoined) { joins = append(joins, e.Member) })
	if err != nil {
		t.Fatal(err)
	}
	defer wj.Stop()
	wu, err := w.WatchUpdateGroup(ctx, "g", func(e tooz.MemberUpdated) { lastUpdate = e.Member + "=" + string(e.Capabilities) })
	if err != nil {
		t.Fatal(err)
	}
	defer wu.Stop()

	if n, err := w.RunWatchers(ctx); err != nil || n != 1 {
		t.Fatalf("RunWatchers = %d, %v; want the first snapshot delivered", n, err)
	}
	if err := a.JoinGroup(ctx, "g", []byte("0")); err != nil {
		t.Fatal(err)
	}
	const updates = 3 * tooz.MaxQueuedEvents
	for i := 1; i <= updates; i++ {
		if err := a.UpdateCapabilities(ctx, "g", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.JoinGroup(ctx, "g", []byte("b")); err != nil {
		t.Fatal(err)
	}
	n, err := w.RunWatchers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Bounded: far fewer calls than the changes made (3 hooks, one of
	// which would have had every update).
	if n > 3*(tooz.MaxQueuedEvents+8) {
		t.Errorf("RunWatchers made %d calls for %d changes: the queue was not bounded", n, updates+2)
	}
	want := map[string]string{"a": strconv.Itoa(updates), "b": "b"}
	if fmt.Sprint(state) != fmt.Sprint(want) {
		t.Errorf("state built from the events %v, want %v", state, want)
	}
	if typed[0].Kind != tooz.MembershipSnapshot || typed[0].Resync || len(typed[0].Members) != 0 {
		t.Errorf("first event %v (Resync %v), want an empty snapshot not marked Resync", typed[0], typed[0].Resync)
	}
	resyncs := 0
	for _, e := range typed[1:] {
		if e.Kind == tooz.MembershipSnapshot {
			if !e.Resync {
				t.Errorf("a later snapshot not marked Resync: %v", e)
			}
			resyncs++
		}
	}
	if resyncs != 1 {
		t.Errorf("%d Resync snapshots, want 1 (the folds before RunWatchers replace each other)", resyncs)
	}
	if fmt.Sprint(joins) != "[a b]" {
		t.Errorf("join hook got %q, want a (in the difference) and b", joins)
	}
	if lastUpdate != "a="+strconv.Itoa(updates) {
		t.Errorf("last update %q, want a=%d", lastUpdate, updates)
	}
}

// sinkConn is the connection of memory-sink://, memory:// with a hand on
// the sink of its group watch, so that a test can play a driver's
// re-listings.
type sinkConn struct {
	tooz.CoordinationDriver
	sink tooz.MemberSink
}

func (s *sinkConn) WatchMembers(ctx context.Context, g string, sink tooz.MemberSink) (func(), error) {
	s.sink = sink
	return s.CoordinationDriver.(tooz.MemberWatcher).WatchMembers(ctx, g, sink)
}

func init() {
	tooz.Register("memory-sink", memoryWrapper(func(_ tooz.Config, inner tooz.CoordinationDriver) tooz.CoordinationDriver {
		return &sinkConn{CoordinationDriver: inner}
	}))
}

// A driver's re-listing is turned into the changes since the last one: a
// member listed under another incarnation left and joined again; an update
// that changes nothing, or a leave of a stranger, is no event.
func TestRelistingDifferences(t *testing.T) {
	ctx := context.Background()
	w, err := tooz.Open(ctx, fmt.Sprintf("memory-sink://relist-%d", time.Now().UnixNano()), "watcher", tooz.WithExplicitWatchers())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	var got []string
	wm, err := w.WatchMembers(ctx, "g", func(e tooz.MembershipEvent) { got = append(got, e.String()+"="+string(e.Member.Capabilities)) })
	if err != nil {
		t.Fatal(err)
	}
	defer wm.Stop()
	sink := w.Driver().(*sinkConn).sink
	at := time.Now()
	sink.Snapshot([]tooz.MemberInfo{{ID: "x", Capabilities: []byte("1"), Incarnation: "a", JoinedAt: at}}, 5)
	sink.Snapshot([]tooz.MemberInfo{{ID: "x", Capabilities: []byte("1"), Incarnation: "b", JoinedAt: at}}, 6)
	sink.Updated(tooz.MemberInfo{ID: "x", Capabilities: []byte("1"), Incarnation: "b"}, 7)
	sink.Updated(tooz.MemberInfo{ID: "x", Capabilities: []byte("2"), Incarnation: "b"}, 8)
	sink.Left("stranger", 9)
	sink.Snapshot([]tooz.MemberInfo{{ID: "y", JoinedAt: at.Add(time.Second)}, {ID: "x", Capabilities: []byte("3"), Incarnation: "b", JoinedAt: at}}, 10)
	if _, err := w.RunWatchers(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"g snapshot []=", "g joined x=1", "g left x=", "g joined x=1", "g updated x=2", "g joined y=", "g updated x=3",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n%q\nwant\n%q", got, want)
	}
}
