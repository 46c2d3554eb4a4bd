// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// slack is what the tests allow beyond a timeout for etcd and the
// watchers to act on it.
const slack = 3 * time.Second

// event is a membership event as a hook saw it.
type event struct{ kind, member string }

// events records membership events of one group and lets a test wait for them.
type events struct {
	mu      sync.Mutex
	list    []event
	changed chan struct{}
}

func newEvents() *events { return &events{changed: make(chan struct{})} }

func (e *events) add(ev event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
	close(e.changed)
	e.changed = make(chan struct{})
}

func (e *events) snapshot() ([]event, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list), e.changed
}

// waitFor waits until cond holds on the events seen so far, or fails the test after d.
func (e *events) waitFor(t *testing.T, d time.Duration, what string, cond func([]event) bool) []event {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		list, changed := e.snapshot()
		if cond(list) {
			return list
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("%s: not seen within %v; events: %v", what, d, list)
		}
	}
}

// watchEvents records c's join and leave events of group g.
func watchEvents(t *testing.T, c *tooz.Coordinator, g string) *events {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs := newEvents()
	wj, err := c.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) { evs.add(event{"join", e.Member}) })
	if err != nil {
		t.Fatalf("watch join: %v", err)
	}
	t.Cleanup(wj.Stop)
	wl, err := c.WatchLeaveGroup(ctx, g, func(e tooz.MemberLeft) { evs.add(event{"leave", e.Member}) })
	if err != nil {
		t.Fatalf("watch leave: %v", err)
	}
	t.Cleanup(wl.Stop)
	return evs
}

// waitUntil polls cond every 10 ms until it holds, or fails the test after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond) // polling an observable condition, with a deadline
	}
}

// TestCompactionDuringWatch compacts the history past the revision a group
// watch must start from: the driver must list the group again and the
// Coordinator must report exactly the difference — no join or leave lost
// or doubled — and the watch must go on afterwards.
func TestCompactionDuringWatch(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	raw := rawClient(t, s)
	url := testURL(s)
	g := testutil.Unique("g")
	a, b, c, x, d := open(t, url, "a"), open(t, url, "b"), open(t, url, "c"), open(t, url, "x"), open(t, url, "d")
	testutil.Must(t, a.JoinGroupCreate(ctx, g, nil), "a joins")
	testutil.Must(t, b.JoinGroup(ctx, g, nil), "b joins")

	w := open(t, url, "w")
	drv := w.Driver().(*conn)
	listed := make(chan int64, 4)
	proceed := make(chan struct{})
	var calls int
	hook := func(rev int64) {
		calls++
		listed <- rev
		if calls == 1 {
			<-proceed // hold the first watch back until its start revision is compacted
		}
	}
	drv.testHookWatch.Store(&hook)
	evs := watchEvents(t, w, g)
	rev := <-listed

	// While the watch has not started: b leaves, c joins, x joins and leaves.
	testutil.Must(t, b.LeaveGroup(ctx, g), "b leaves")
	testutil.Must(t, c.JoinGroup(ctx, g, nil), "c joins")
	testutil.Must(t, x.JoinGroup(ctx, g, nil), "x joins")
	testutil.Must(t, x.LeaveGroup(ctx, g), "x leaves")
	head, err := raw.Get(ctx, "compaction-probe")
	testutil.Must(t, err, "read the head revision")
	if _, err := raw.Compact(ctx, head.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact: %v", err)
	}
	if head.Header.Revision <= rev+1 {
		t.Fatalf("compacted to %d, not past the watch's start %d", head.Header.Revision, rev+1)
	}
	close(proceed)

	select {
	case r := <-listed:
		if r < head.Header.Revision {
			t.Fatalf("listed again at revision %d, before the compaction at %d", r, head.Header.Revision)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not list the group again after the compaction")
	}
	evs.waitFor(t, 10*time.Second, "the difference after the compaction", func(e []event) bool { return len(e) >= 2 })

	// The watch goes on after the re-listing.
	testutil.Must(t, d.JoinGroup(ctx, g, nil), "d joins")
	testutil.Must(t, a.LeaveGroup(ctx, g), "a leaves")
	got := evs.waitFor(t, 10*time.Second, "events after the re-listing", func(e []event) bool { return len(e) >= 4 })
	want := []event{{"leave", "b"}, {"join", "c"}, {"join", "d"}, {"leave", "a"}}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %v, want exactly %v", got, want)
	}
	ms, err := w.Members(ctx, g)
	testutil.Must(t, err, "members")
	if !slices.Equal(ms, []string{"c", "d"}) {
		t.Fatalf("members = %v, want [c d]", ms)
	}
}

// TestLeaseLostWhilePaused stops a coordinator's heartbeats past its TTL,
// as a paused process would: its lock reports Lost and its leadership ends
// with an event, etcd expires its keys (others see it leave and can take
// the lock), a contender of it that was waiting stops with ErrSessionLost,
// and its next heartbeat reports ErrSessionLost with a new lease in place
// and the groups re-joined.
func TestLeaseLostWhilePaused(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	url := testURL(s)
	g, lockName, busy := testutil.Unique("g"), testutil.Unique("lock"), testutil.Unique("busy")
	a := open(t, url, "a", tooz.WithoutHeart())
	b := open(t, url, "b")
	testutil.Must(t, a.JoinGroupCreate(ctx, g, []byte("caps")), "a joins")
	evs := watchEvents(t, b, g)
	la := a.Lock(lockName)
	testutil.Must(t, la.Acquire(ctx), "a locks")
	lost := make(chan tooz.LeadershipLost, 1)
	wl, err := a.WatchLeadershipLost(ctx, g, func(e tooz.LeadershipLost) { lost <- e })
	testutil.Must(t, err, "watch leadership lost")
	defer wl.Stop()
	lead, err := a.Campaign(ctx, g)
	testutil.Must(t, err, "a campaigns")
	oldLease, err := leaseOf(a)
	testutil.Must(t, err, "a's lease")

	// a also waits for a lock b holds.
	testutil.Must(t, b.Lock(busy).Acquire(ctx), "b locks busy")
	waiting := make(chan error, 1)
	go func() { waiting <- a.Lock(busy).Acquire(ctx) }()

	// a's process is "paused": no heartbeat from now on.
	if _, err := a.Heartbeat(ctx); err != nil {
		t.Fatalf("last heartbeat: %v", err)
	}
	paused := time.Now()
	select {
	case <-la.Lost():
	case <-time.After(testTimeout + slack):
		t.Fatal("a's lock did not report Lost after the timeout")
	}
	select {
	case e := <-lost:
		if !errors.Is(e.Err, tooz.ErrSessionLost) {
			t.Fatalf("LeadershipLost.Err = %v, want ErrSessionLost", e.Err)
		}
	case <-time.After(slack):
		t.Fatal("no LeadershipLost event")
	}
	if !isClosed(lead.Lost()) {
		t.Fatal("the leadership's Lost is open")
	}
	evs.waitFor(t, testTimeout+slack, "a's leave on expiry", func(e []event) bool { return slices.Contains(e, event{"leave", "a"}) })
	select {
	case err := <-waiting:
		if !errors.Is(err, tooz.ErrSessionLost) {
			t.Fatalf("a's waiting Acquire returned %v, want ErrSessionLost", err)
		}
	case <-time.After(slack):
		t.Fatal("a's waiting Acquire did not stop when its lease expired")
	}
	t.Logf("expired %v after the last heartbeat (timeout %v)", time.Since(paused).Round(time.Millisecond), testTimeout)
	ok, err := b.Lock(lockName).TryAcquire(ctx)
	if err != nil || !ok {
		t.Fatalf("b's TryAcquire of a's expired lock = %v, %v", ok, err)
	}

	// a resumes.
	if _, err := a.Heartbeat(ctx); !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("first heartbeat after the expiry: %v, want ErrSessionLost", err)
	}
	newLease, err := leaseOf(a)
	testutil.Must(t, err, "a's new lease")
	if newLease == oldLease {
		t.Fatal("the expired lease is still in use")
	}
	if _, err := a.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat on the new lease: %v", err)
	}
	evs.waitFor(t, slack, "a's re-join", func(e []event) bool {
		i := slices.Index(e, event{"leave", "a"})
		return i >= 0 && slices.Contains(e[i:], event{"join", "a"})
	})
	caps, err := b.MemberCapabilities(ctx, g, "a")
	testutil.Must(t, err, "a's capabilities")
	if string(caps) != "caps" {
		t.Fatalf("re-joined with %q, want %q", caps, "caps")
	}
	if err := la.Release(ctx); !errors.Is(err, tooz.ErrLockNotHeld) {
		t.Fatalf("release of the lost lock: %v, want ErrLockNotHeld", err)
	}
}

// TestLeaseRevoked revokes a live coordinator's lease behind its back: the
// driver itself (not the Coordinator's local deadline) must find out at the
// next heartbeat, end the ownerships, grant a new lease and re-join.
func TestLeaseRevoked(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	raw := rawClient(t, s)
	url := testURL(s)
	g, lockName := testutil.Unique("g"), testutil.Unique("lock")
	a := open(t, url, "a", tooz.WithoutHeart())
	b := open(t, url, "b")
	testutil.Must(t, a.JoinGroupCreate(ctx, g, nil), "a joins")
	evs := watchEvents(t, b, g)
	la := a.Lock(lockName)
	testutil.Must(t, la.Acquire(ctx), "a locks")
	token := la.FencingToken()
	testutil.Must(t, revokeLease(ctx, raw, a), "revoke")
	evs.waitFor(t, slack, "a's leave", func(e []event) bool { return slices.Contains(e, event{"leave", "a"}) })
	if _, err := a.Heartbeat(ctx); !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("heartbeat after the revocation: %v, want ErrSessionLost", err)
	}
	if !isClosed(la.Lost()) {
		t.Fatal("the lock's Lost is open after the session was lost")
	}
	evs.waitFor(t, slack, "a's re-join", func(e []event) bool {
		return slices.Equal(e, []event{{"leave", "a"}, {"join", "a"}})
	})
	lb := b.Lock(lockName)
	testutil.Must(t, lb.Acquire(ctx), "b locks")
	if lb.FencingToken() <= token {
		t.Fatalf("fencing token %d after %d", lb.FencingToken(), token)
	}
}

// TestRestart kills etcd while a member holds a lock and keeps it down
// past the Coordinator's timeout: the lock reports Lost, its release fails
// while etcd is down, and the driver deletes the key once etcd is back (so
// the lock is not held forever by a lease that etcd keeps alive). The
// leases survive the restart (etcd renews them when a leader takes over),
// so the members are still there; the group watch resumes without
// spurious events.
func TestRestart(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	url := testURL(s)
	g, lockName := testutil.Unique("g"), testutil.Unique("lock")
	a, b, w := open(t, url, "a"), open(t, url, "b"), open(t, url, "w")
	testutil.Must(t, a.JoinGroupCreate(ctx, g, nil), "a joins")
	testutil.Must(t, b.JoinGroup(ctx, g, nil), "b joins")
	evs := watchEvents(t, w, g)
	la := a.Lock(lockName)
	testutil.Must(t, la.Acquire(ctx), "a locks")
	leaseA, err := leaseOf(a)
	testutil.Must(t, err, "a's lease")
	drv := a.Driver().(*conn)

	s.Kill()
	select {
	case <-la.Lost():
	case <-time.After(testTimeout + slack):
		t.Fatal("a's lock did not report Lost while etcd was down")
	}
	waitUntil(t, driverkit.CleanupTimeout+slack, "a's failed release recorded", func() bool {
		drv.mu.Lock()
		defer drv.mu.Unlock()
		return drv.orphans.Len() > 0
	})
	testutil.Must(t, s.Restart(), "restart etcd")

	actx, cancel := context.WithTimeout(ctx, 3*testTimeout+slack)
	defer cancel()
	if err := b.Lock(lockName).Acquire(actx); err != nil {
		t.Fatalf("b cannot take the lock a lost during the outage: %v", err)
	}
	ms, err := b.Members(ctx, g)
	testutil.Must(t, err, "members after the restart")
	if !slices.Equal(ms, []string{"a", "b"}) {
		t.Fatalf("members after the restart = %v, want [a b]", ms)
	}
	if l, err := leaseOf(a); err != nil || l != leaseA {
		t.Fatalf("a's lease after the restart = %x, %v; want the same %x", l, err, leaseA)
	}
	c := open(t, url, "c")
	testutil.Must(t, c.JoinGroup(ctx, g, nil), "c joins after the restart")
	got := evs.waitFor(t, slack, "c's join", func(e []event) bool { return slices.Contains(e, event{"join", "c"}) })
	if !slices.Equal(got, []event{{"join", "c"}}) {
		t.Fatalf("events across the restart = %v, want only c's join", got)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
