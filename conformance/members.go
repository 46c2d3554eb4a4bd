// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/toozgo/tooz"
)

var memberEventTests = []test{
	{"MembersSnapshotThenChanges", testMembersSnapshotThenChanges},
	{"UpdateEventsInOrderWithJoinsAndLeaves", testUpdateEventsInOrder},
	{"UpdateOverLimitKeepsOldCapabilities", testUpdateOverLimit},
	{"SnapshotGapFreeUnderStorm", testSnapshotStorm},
}

// UpdateFolder is implemented by harnesses whose backend's watch learns
// that a member changed but reads its capabilities afterwards (file://: a
// notification names a file, which may already hold later capabilities),
// so that quick successive updates may be reported as the last one. For
// such a harness the update tests make each change after the event of the
// one before; order and exactly-once delivery are checked all the same.
// Return true only when that is so.
type UpdateFolder interface {
	FoldsUpdates() bool
}

// stepwise reports whether the harness declares that its watch reports
// states (see StateWatcher) or folds updates (see UpdateFolder).
func (f *fixture) stepwise() bool {
	if sw, ok := f.h.(StateWatcher); ok && sw.WatchesReportState() {
		return true
	}
	uf, ok := f.h.(UpdateFolder)
	return ok && uf.FoldsUpdates()
}

// skipUnsupported skips the subtest when the driver has no member watch
// with capabilities (tooz.MemberWatcher is optional).
func (f *fixture) skipUnsupported(err error) {
	f.Helper()
	if errors.Is(err, tooz.ErrNotSupported) {
		f.Skipf("the driver does not implement tooz.MemberWatcher: %v", err)
	}
}

// brief is a MembershipEvent reduced to what the tests compare.
func brief(e tooz.MembershipEvent) string {
	switch e.Kind {
	case tooz.MembershipSnapshot:
		parts := make([]string, len(e.Members))
		for i, m := range e.Members {
			parts[i] = m.ID + "=" + string(m.Capabilities)
		}
		return "snapshot[" + strings.Join(parts, " ") + "]"
	case tooz.MembershipLeft:
		return "left " + e.Member.ID
	}
	return e.Kind.String() + " " + e.Member.ID + "=" + string(e.Member.Capabilities)
}

func testMembersSnapshotThenChanges(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	w := f.open(f.name("watcher"))
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	marker := f.open(f.name("marker"))
	f.must(a.JoinGroupCreate(ctx, g, []byte("a1")), "a joins before the watch")
	rec := newRecorder[string]()
	wm, err := w.WatchMembers(ctx, g, func(e tooz.MembershipEvent) {
		if e.Group != g {
			rec.add("wrong group " + e.Group)
		}
		rec.add(brief(e))
	})
	f.skipUnsupported(err)
	f.must(err, "watch members")
	defer wm.Stop()
	rec.waitFor(f, eventWait, "the first snapshot", func(e []string) bool { return len(e) >= 1 })
	stepwise := f.stepwise()
	seen := 1
	step := func(err error, what string, event bool) {
		f.Helper()
		f.must(err, what)
		if !stepwise || !event {
			return
		}
		seen++
		rec.waitFor(f, eventWait, "the event of: "+what, func(e []string) bool { return len(e) >= seen })
	}
	step(b.JoinGroup(ctx, g, []byte("b1")), "b joins", true)
	step(a.UpdateCapabilities(ctx, g, []byte("a2")), "a updates", true)
	step(a.UpdateCapabilities(ctx, g, []byte("a2")), "a sets the same capabilities", false)
	step(a.LeaveGroup(ctx, g), "a leaves", true)
	step(b.UpdateCapabilities(ctx, g, []byte("b2")), "b updates", true)
	f.must(marker.JoinGroup(ctx, g, []byte("m")), "marker joins")
	wantMarker := "joined " + marker.MemberID() + "=m"
	evs := rec.waitFor(f, eventWait, "the marker's join", func(e []string) bool { return slices.Contains(e, wantMarker) })
	want := []string{
		"snapshot[" + a.MemberID() + "=a1]",
		"joined " + b.MemberID() + "=b1",
		"updated " + a.MemberID() + "=a2",
		"left " + a.MemberID(),
		"updated " + b.MemberID() + "=b2",
		wantMarker,
	}
	if !slices.Equal(evs, want) {
		f.Fatalf("events:\n%q\nwant, in this order and once each:\n%q", evs, want)
	}
}

func testUpdateEventsInOrder(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	w := f.open(f.name("watcher"))
	f.must(w.CreateGroup(ctx, g), "create")
	rec := newRecorder[string]()
	wu, err := w.WatchUpdateGroup(ctx, g, func(e tooz.MemberUpdated) {
		rec.add("update " + e.Member + "=" + string(e.Capabilities))
	})
	f.skipUnsupported(err)
	f.must(err, "watch updates")
	defer wu.Stop()
	wj, err := w.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) { rec.add("join " + e.Member) })
	f.must(err, "watch joins")
	defer wj.Stop()
	wl, err := w.WatchLeaveGroup(ctx, g, func(e tooz.MemberLeft) { rec.add("leave " + e.Member) })
	f.must(err, "watch leaves")
	defer wl.Stop()
	a := f.open(f.name("a"))
	marker := f.open(f.name("marker"))
	stepwise := f.stepwise()
	seen := 0
	step := func(err error, what string) {
		f.Helper()
		f.must(err, what)
		if !stepwise {
			return
		}
		seen++
		rec.waitFor(f, eventWait, "the event of: "+what, func(e []string) bool { return len(e) >= seen })
	}
	step(a.JoinGroup(ctx, g, []byte("x")), "a joins")
	step(a.UpdateCapabilities(ctx, g, []byte("y")), "a updates")
	step(a.LeaveGroup(ctx, g), "a leaves")
	step(a.JoinGroup(ctx, g, []byte("z")), "a joins again")
	step(a.UpdateCapabilities(ctx, g, nil), "a clears its capabilities")
	f.must(marker.JoinGroup(ctx, g, nil), "marker joins")
	evs := rec.waitFor(f, eventWait, "the marker's join", func(e []string) bool {
		return slices.Contains(e, "join "+marker.MemberID())
	})
	want := []string{
		"join " + a.MemberID(), "update " + a.MemberID() + "=y", "leave " + a.MemberID(),
		"join " + a.MemberID(), "update " + a.MemberID() + "=", "join " + marker.MemberID(),
	}
	if !slices.Equal(evs, want) {
		f.Fatalf("events:\n%q\nwant, in this order and once each:\n%q", evs, want)
	}
}

func testUpdateOverLimit(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	w := f.open(f.name("watcher"))
	a := f.open(f.name("a"))
	f.must(a.JoinGroupCreate(ctx, g, []byte("ok")), "a joins")
	rec := newRecorder[tooz.MemberUpdated]()
	wu, err := w.WatchUpdateGroup(ctx, g, rec.add)
	f.skipUnsupported(err)
	f.must(err, "watch updates")
	defer wu.Stop()
	big := bytes.Repeat([]byte{'x'}, tooz.MaxCapabilitiesLength+1)
	f.wantErr(a.UpdateCapabilities(ctx, g, big), tooz.ErrInvalidCapabilities, "update over the limit")
	caps, err := a.MemberCapabilities(ctx, g, a.MemberID())
	f.must(err, "capabilities after the refused update")
	if string(caps) != "ok" {
		f.Fatalf("capabilities after a refused update: %q, want the old %q", caps, "ok")
	}
	f.must(a.UpdateCapabilities(ctx, g, []byte("next")), "a valid update")
	evs := rec.waitFor(f, eventWait, "the valid update", func(e []tooz.MemberUpdated) bool { return len(e) >= 1 })
	if evs[0].Member != a.MemberID() || string(evs[0].Capabilities) != "next" {
		f.Fatalf("first update event %+v, want %s=next (the refused update is no event)", evs[0], a.MemberID())
	}
}

// stormMembers is how many members join, update and leave at once.
const stormMembers = 50

// applier replays a WatchMembers stream onto a member map and records
// every event that does not fit the state so far (a gap or a duplicate).
type applier struct {
	mu      sync.Mutex
	state   map[string]string // ID -> capabilities
	primed  bool
	errs    []string
	changed chan struct{}
}

func newApplier() *applier { return &applier{changed: make(chan struct{})} }

func (a *applier) add(e tooz.MembershipEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer func() { close(a.changed); a.changed = make(chan struct{}) }()
	if !a.primed && e.Kind != tooz.MembershipSnapshot {
		a.errs = append(a.errs, "first event is not a snapshot: "+brief(e))
	}
	switch e.Kind {
	case tooz.MembershipSnapshot:
		if a.primed && !e.Resync {
			a.errs = append(a.errs, "a second snapshot not marked Resync")
		}
		a.primed = true
		a.state = map[string]string{}
		for i, m := range e.Members {
			if i > 0 && e.Members[i-1].ID >= m.ID {
				a.errs = append(a.errs, "snapshot not sorted by ID, or with a duplicate: "+m.ID)
			}
			a.state[m.ID] = string(m.Capabilities)
		}
	case tooz.MembershipJoined:
		if _, ok := a.state[e.Member.ID]; ok {
			a.errs = append(a.errs, "joined while a member: "+e.Member.ID)
		}
		a.state[e.Member.ID] = string(e.Member.Capabilities)
	case tooz.MembershipUpdated:
		old, ok := a.state[e.Member.ID]
		switch {
		case !ok:
			a.errs = append(a.errs, "updated while not a member: "+e.Member.ID)
		case old == string(e.Member.Capabilities):
			a.errs = append(a.errs, "updated to the capabilities it had: "+e.Member.ID)
		}
		a.state[e.Member.ID] = string(e.Member.Capabilities)
	case tooz.MembershipLeft:
		if _, ok := a.state[e.Member.ID]; !ok {
			a.errs = append(a.errs, "left while not a member: "+e.Member.ID)
		}
		delete(a.state, e.Member.ID)
	default:
		a.errs = append(a.errs, fmt.Sprintf("unknown event kind %v", e.Kind))
	}
}

// waitFor waits until the state has member id.
func (a *applier) waitFor(f *fixture, id string) map[string]string {
	f.Helper()
	deadline := f.ctx.Done()
	for {
		a.mu.Lock()
		_, ok := a.state[id]
		ch := a.changed
		st := make(map[string]string, len(a.state))
		for k, v := range a.state {
			st[k] = v
		}
		errs := slices.Clone(a.errs)
		a.mu.Unlock()
		if len(errs) > 0 {
			f.Fatalf("the event stream does not fit the state it builds:\n%s", strings.Join(errs, "\n"))
		}
		if ok {
			return st
		}
		select {
		case <-ch:
		case <-deadline:
			f.Fatalf("subtest deadline while waiting for %s in the watched state %v", id, st)
		}
	}
}

func testSnapshotStorm(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	w := f.open(f.name("watcher"))
	f.must(w.CreateGroup(ctx, g), "create")
	early := newApplier()
	we, err := w.WatchMembers(ctx, g, early.add)
	f.skipUnsupported(err)
	f.must(err, "watch before the storm")
	defer we.Stop()
	members := make([]*tooz.Coordinator, stormMembers)
	for i := range members {
		members[i] = f.open(f.name(fmt.Sprintf("m%02d", i)))
	}
	// Every member joins, updates and (one in two) leaves, all at once;
	// a second watch starts in the middle of it.
	var wg sync.WaitGroup
	errs := make(chan error, stormMembers)
	start := make(chan struct{})
	for i, c := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := c.JoinGroup(ctx, g, []byte("v1")); err != nil {
				errs <- fmt.Errorf("%s joins: %w", c.MemberID(), err)
				return
			}
			if err := c.UpdateCapabilities(ctx, g, []byte(fmt.Sprintf("v2-%d", i))); err != nil {
				errs <- fmt.Errorf("%s updates: %w", c.MemberID(), err)
				return
			}
			if i%2 == 0 {
				if err := c.LeaveGroup(ctx, g); err != nil {
					errs <- fmt.Errorf("%s leaves: %w", c.MemberID(), err)
				}
			}
		}()
	}
	close(start)
	mid := newApplier()
	wm, err := w.WatchMembers(ctx, g, mid.add)
	f.must(err, "watch in the middle of the storm")
	defer wm.Stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		f.Fatalf("storm: %v", err)
	}
	marker := f.open(f.name("marker"))
	f.must(marker.JoinGroup(ctx, g, []byte("m")), "marker joins")
	want, err := w.MembersWithCapabilities(ctx, g)
	f.must(err, "members after the storm")
	for name, a := range map[string]*applier{"watch started before the storm": early, "watch started during the storm": mid} {
		got := a.waitFor(f, marker.MemberID())
		if len(got) != len(want) {
			f.Errorf("%s: %d members, the group has %d", name, len(got), len(want))
		}
		for id, caps := range want {
			if c, ok := got[id]; !ok || c != string(caps) {
				f.Errorf("%s: member %s with %q (present: %v), the group has %q", name, id, c, ok, caps)
			}
		}
	}
	if n := len(want); n != stormMembers/2+1 {
		f.Fatalf("the group has %d members after the storm, want %d", n, stormMembers/2+1)
	}
}
