// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"slices"
	"time"

	"github.com/toozgo/tooz"
)

var eventTests = []test{
	{"JoinLeaveEventsInOrderExactlyOnce", testJoinLeaveEvents},
	{"NoEventsAfterUnwatch", testNoEventsAfterUnwatch},
	{"WatchBeforeGroupExists", testWatchBeforeGroupExists},
	{"ExplicitRunWatchers", testExplicitRunWatchers},
}

// eventWait bounds how long a pushed event may take to arrive.
const eventWait = 10 * time.Second

func testJoinLeaveEvents(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	w := f.open(f.name("watcher"))
	f.must(w.CreateGroup(ctx, g), "create")
	type ev struct {
		kind   string
		member string
	}
	rec := newRecorder[ev]()
	wj, err := w.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) {
		if e.Group != g {
			rec.add(ev{"wrong group " + e.Group, e.Member})
		}
		rec.add(ev{"join", e.Member})
	})
	f.must(err, "watch join")
	defer wj.Stop()
	wl, err := w.WatchLeaveGroup(ctx, g, func(e tooz.MemberLeft) { rec.add(ev{"leave", e.Member}) })
	f.must(err, "watch leave")
	defer wl.Stop()

	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	marker := f.open(f.name("marker"))
	// step makes one change; on a backend whose watch reports states it
	// first waits for the event of the change before, so that no change is
	// folded into the next notification.
	stepwise := false
	if sw, ok := f.h.(StateWatcher); ok && sw.WatchesReportState() {
		stepwise = true
	}
	seen := 0
	step := func(err error, what string, event bool) {
		f.Helper()
		f.must(err, what)
		if !stepwise || !event {
			return
		}
		seen++
		rec.waitFor(f, eventWait, "the event of: "+what, func(e []ev) bool { return len(e) >= seen })
	}
	step(a.JoinGroup(ctx, g, nil), "a joins", true)
	step(b.JoinGroup(ctx, g, nil), "b joins", true)
	step(a.UpdateCapabilities(ctx, g, []byte("not an event")), "a updates", false)
	step(a.LeaveGroup(ctx, g), "a leaves", true)
	step(b.LeaveGroup(ctx, g), "b leaves", true)
	step(a.JoinGroup(ctx, g, nil), "a joins again", true)
	// The marker's join comes after everything else: once it is seen,
	// every earlier event must have been seen, once.
	f.must(marker.JoinGroup(ctx, g, nil), "marker joins")
	evs := rec.waitFor(f, eventWait, "the marker's join", func(e []ev) bool {
		return slices.Contains(e, ev{"join", marker.MemberID()})
	})
	want := []ev{
		{"join", a.MemberID()}, {"join", b.MemberID()},
		{"leave", a.MemberID()}, {"leave", b.MemberID()},
		{"join", a.MemberID()}, {"join", marker.MemberID()},
	}
	if !slices.Equal(evs, want) {
		f.Fatalf("events:\n%+v\nwant, in this order and once each:\n%+v", evs, want)
	}
	// Nothing about the watcher's own baseline was reported: members that
	// were there before the watch started are not "joins".
}

func testNoEventsAfterUnwatch(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	w := f.open(f.name("watcher"))
	f.must(w.CreateGroup(ctx, g), "create")
	stopped := newRecorder[tooz.MemberJoined]()
	live := newRecorder[tooz.MemberJoined]()
	ws, err := w.WatchJoinGroup(ctx, g, stopped.add)
	f.must(err, "watch")
	wl, err := w.WatchJoinGroup(ctx, g, live.add)
	f.must(err, "second watch")
	defer wl.Stop()
	a := f.open(f.name("a"))
	f.must(a.JoinGroup(ctx, g, nil), "a joins")
	stopped.waitFor(f, eventWait, "a's join on the first hook", func(e []tooz.MemberJoined) bool { return len(e) == 1 })
	ws.Stop()
	ws.Stop() // twice is fine
	b := f.open(f.name("b"))
	f.must(b.JoinGroup(ctx, g, nil), "b joins")
	// Hooks of one group are called in registration order, so once the
	// live hook has b's join, the stopped hook would have had it first.
	live.waitFor(f, eventWait, "b's join on the live hook", func(e []tooz.MemberJoined) bool {
		return count(e, tooz.MemberJoined{Group: g, Member: b.MemberID()}) == 1
	})
	if evs := stopped.snapshot(); len(evs) != 1 {
		f.Fatalf("a stopped hook was called after Stop: %+v", evs)
	}
	// Stopping every hook stops the driver's watch; a new hook still works.
	wl.Stop()
	again := newRecorder[tooz.MemberJoined]()
	wa, err := w.WatchJoinGroup(ctx, g, again.add)
	f.must(err, "watch again")
	defer wa.Stop()
	c := f.open(f.name("c"))
	f.must(c.JoinGroup(ctx, g, nil), "c joins")
	evs := again.waitFor(f, eventWait, "c's join after re-watching", func(e []tooz.MemberJoined) bool { return len(e) >= 1 })
	if !slices.Equal(evs, []tooz.MemberJoined{{Group: g, Member: c.MemberID()}}) {
		f.Fatalf("after re-watching got %+v, want only c's join (members present when the watch starts are not joins)", evs)
	}
}

func testWatchBeforeGroupExists(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	w := f.open(f.name("watcher"))
	rec := newRecorder[tooz.MemberJoined]()
	wj, err := w.WatchJoinGroup(ctx, g, rec.add)
	f.must(err, "watch a group that does not exist yet")
	defer wj.Stop()
	a := f.open(f.name("a"))
	f.must(a.JoinGroupCreate(ctx, g, nil), "join-create")
	rec.waitFor(f, eventWait, "the join into the new group", func(e []tooz.MemberJoined) bool {
		return slices.Equal(e, []tooz.MemberJoined{{Group: g, Member: a.MemberID()}})
	})
}

func testExplicitRunWatchers(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	w := f.open(f.name("watcher"), tooz.WithExplicitWatchers())
	f.must(w.CreateGroup(ctx, g), "create")
	var got []tooz.MemberJoined // only touched on this goroutine, inside RunWatchers
	wj, err := w.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) { got = append(got, e) })
	f.must(err, "watch")
	defer wj.Stop()
	a := f.open(f.name("a"))
	f.must(a.JoinGroup(ctx, g, nil), "a joins")
	deadline := time.Now().Add(eventWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(got) == 0 {
		if time.Now().After(deadline) {
			f.Fatalf("RunWatchers delivered nothing within %v", eventWait)
		}
		<-tick.C // explicit mode is a pump: the caller decides when to run it
		if _, err := w.RunWatchers(ctx); err != nil {
			f.Fatalf("RunWatchers: %v", err)
		}
	}
	if !slices.Equal(got, []tooz.MemberJoined{{Group: g, Member: a.MemberID()}}) {
		f.Fatalf("RunWatchers delivered %+v", got)
	}
}
