// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// eventWait bounds how long a pushed event or a reaction may take.
const eventWait = 10 * time.Second

type memberEvent struct{ kind, member string }

// watchMembers reports c's join and leave events of group g on a channel.
func watchMembers(t testing.TB, c *tooz.Coordinator, g string) <-chan memberEvent {
	t.Helper()
	ch := make(chan memberEvent, 100)
	ctx := testutil.Context(t, 10*time.Second)
	wj, err := c.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) { ch <- memberEvent{"join", e.Member} })
	testutil.Must(t, err, "watch join")
	t.Cleanup(wj.Stop)
	wl, err := c.WatchLeaveGroup(ctx, g, func(e tooz.MemberLeft) { ch <- memberEvent{"leave", e.Member} })
	testutil.Must(t, err, "watch leave")
	t.Cleanup(wl.Stop)
	return ch
}

// expectEvent waits for want on ch, failing on any other event first.
func expectEvent(t testing.TB, ch <-chan memberEvent, want memberEvent) {
	t.Helper()
	if got := recv(t, ch, eventWait, "event "+want.kind+" "+want.member); got != want {
		t.Fatalf("event %+v, want %+v", got, want)
	}
}

// TestSessionDestroyedOutOfBand destroys a coordinator's session with
// another client while it holds a lock, leads a group and is a member: the
// lock's Lost closes, LeadershipLost fires with ErrSessionLost, and the
// coordinator gets a new session, re-joins and is elected again.
func TestSessionDestroyedOutOfBand(t *testing.T) {
	s := testserver.StartConsul(t)
	raw := rawClient(t, s)
	h := newHarness(s, "")
	ctx := testutil.Context(t, time.Minute)
	a := open(t, h, "a")
	w := open(t, h, "w")
	g := testutil.Unique("g")
	testutil.Must(t, a.JoinGroupCreate(ctx, g, []byte("caps")), "a joins")
	events := watchMembers(t, w, g)
	l := a.Lock(testutil.Unique("lock"))
	testutil.Must(t, l.Acquire(ctx), "a locks")
	tok1 := l.FencingToken()
	elected := make(chan tooz.ElectedAsLeader, 4)
	lostEv := make(chan tooz.LeadershipLost, 4)
	wl, err := a.WatchLeadershipLost(ctx, g, func(e tooz.LeadershipLost) { lostEv <- e })
	testutil.Must(t, err, "watch leadership lost")
	defer wl.Stop()
	we, err := a.WatchElectedAsLeader(ctx, g, func(e tooz.ElectedAsLeader) { elected <- e })
	testutil.Must(t, err, "watch elected")
	defer we.Stop()
	e1 := recv(t, elected, eventWait, "a's election")

	old := sessionOf(t, a)
	for _, key := range []string{h.memberKey(t, g, "a"), h.ownerKey(t, tooz.KindElection, g)} {
		p, _, err := raw.KV().Get(key, nil)
		if err != nil || p == nil || p.Session != old {
			t.Fatalf("key %q = %+v, %v: want it held by a's session %s", key, p, err, old)
		}
	}
	if _, err := raw.Session().Destroy(old, nil); err != nil {
		t.Fatalf("destroy a's session: %v", err)
	}
	destroyed := time.Now()
	// The session watch notices at once, without waiting for a heartbeat.
	testutil.WaitClosed(t, l.Lost(), testTimeout, "the lock's Lost after its session was destroyed")
	t.Logf("lock reported lost %v after the session was destroyed", time.Since(destroyed).Round(time.Millisecond))
	ev := recv(t, lostEv, eventWait, "LeadershipLost")
	if !errors.Is(ev.Err, tooz.ErrSessionLost) {
		t.Fatalf("LeadershipLost.Err = %v, want ErrSessionLost", ev.Err)
	}
	expectEvent(t, events, memberEvent{"leave", "a"})
	expectEvent(t, events, memberEvent{"join", "a"})
	e2 := recv(t, elected, eventWait, "a's election under its new session")
	if e2.FencingToken <= e1.FencingToken {
		t.Fatalf("fencing token after re-election %d, not above %d", e2.FencingToken, e1.FencingToken)
	}
	if cur := sessionOf(t, a); cur == old {
		t.Fatalf("still on the destroyed session %s", old)
	}
	caps, err := w.MemberCapabilities(ctx, g, "a")
	if err != nil || string(caps) != "caps" {
		t.Fatalf("capabilities after re-joining: %q, %v", caps, err)
	}
	if err := l.Release(ctx); !errors.Is(err, tooz.ErrLockNotHeld) {
		t.Fatalf("release of the lost lock: %v, want ErrLockNotHeld", err)
	}
	testutil.Must(t, l.Acquire(ctx), "a locks again")
	if l.FencingToken() <= tok1 {
		t.Fatalf("fencing token %d after re-acquiring, not above %d", l.FencingToken(), tok1)
	}
	if st := a.Stats(); st.SessionsLost == 0 {
		t.Fatal("Stats().SessionsLost = 0 after a lost session")
	}
}

// memberKey returns the Consul key of member m of group g under h's namespace.
func (h harness) memberKey(t testing.TB, g, m string) string {
	return h.keys(t).memberKey(g, m)
}

func (h harness) ownerKey(t testing.TB, kind tooz.ResourceKind, name string) string {
	return h.keys(t).resBase(tooz.Resource{Kind: kind, Name: name}) + ownerName
}

// keys returns a conn that only computes key names in h's namespace.
func (h harness) keys(t testing.TB) *conn {
	i := strings.Index(h.URL, "namespace=")
	if i < 0 {
		t.Fatalf("harness URL %q has no namespace", h.URL)
	}
	ns := h.URL[i+len("namespace="):]
	if j := strings.IndexByte(ns, '&'); j >= 0 {
		ns = ns[:j]
	}
	return &conn{ns: ns} // namespaces from testutil.Unique() need no escaping
}

// TestLockDelay checks that the lock_delay option reaches Consul: after the
// holder's session is invalidated, nobody gets the lock before the delay
// has passed, and the default (0) hands it over at once.
func TestLockDelay(t *testing.T) {
	s := testserver.StartConsul(t)
	raw := rawClient(t, s)
	ctx := testutil.Context(t, time.Minute)
	for _, tc := range []struct {
		option string
		delay  time.Duration
	}{{"", 0}, {"&lock_delay=1500ms", 1500 * time.Millisecond}} {
		h := newHarness(s, tc.option)
		a := open(t, h, "a")
		b := open(t, h, "b")
		name := testutil.Unique("lock")
		testutil.Must(t, a.Lock(name).Acquire(ctx), "a locks")
		if _, err := raw.Session().Destroy(sessionOf(t, a), nil); err != nil {
			t.Fatalf("destroy a's session: %v", err)
		}
		destroyed := time.Now()
		lb := b.Lock(name)
		if tc.delay > 0 {
			ok, err := lb.TryAcquire(ctx)
			if err != nil || ok {
				t.Fatalf("lock_delay=%v: TryAcquire right after the holder's session ended = %v, %v; want false, nil", tc.delay, ok, err)
			}
		}
		testutil.Must(t, lb.Acquire(ctx), "b acquires")
		took := time.Since(destroyed)
		t.Logf("lock_delay=%v: b got the lock %v after a's session was destroyed", tc.delay, took.Round(time.Millisecond))
		switch {
		case tc.delay > 0 && took < tc.delay-100*time.Millisecond:
			t.Fatalf("lock_delay=%v: b got the lock after %v", tc.delay, took)
		case took > tc.delay+2*time.Second:
			t.Fatalf("lock_delay=%v: b got the lock only after %v", tc.delay, took)
		}
		testutil.Must(t, lb.Release(ctx), "b releases")
	}
}

// TestAgentRestart restarts the agent (with its data on disk) under
// coordinators that are members, hold a lock and watch a group. With a
// timeout longer than the outage the session rides it out: the lock is
// still held and recorded, nobody left. With a shorter one tooz's deadline
// passes: the lock reports it lost and is given up, whether the session was
// lost (the member re-joins under a new one) or outlived the outage on the
// agent. Either
// way the watch still delivers afterwards, and a lock handle never claims a
// lock that Consul does not record for it.
func TestAgentRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{{"SessionSurvives", 15 * time.Second}, {"SessionLost", time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			s := testserver.StartConsul(t, testserver.WithPersistence())
			raw := rawClient(t, s)
			h := newHarness(s, "")
			h.LivenessTimeout = tc.timeout
			ctx := testutil.Context(t, 2*time.Minute)
			a := open(t, h, "a")
			w := open(t, h, "w")
			g := testutil.Unique("g")
			testutil.Must(t, a.JoinGroupCreate(ctx, g, nil), "a joins")
			events := watchMembers(t, w, g)
			name := testutil.Unique("lock")
			la := a.Lock(name)
			testutil.Must(t, la.Acquire(ctx), "a locks")
			before := sessionOf(t, a)

			began := time.Now()
			if err := s.Restart(); err != nil {
				t.Fatal(err)
			}
			down := time.Since(began)
			t.Logf("agent back after %v (timeout %v)", down.Round(time.Millisecond), tc.timeout)
			// Settle a's state: a heartbeat that reports a lost session
			// has replaced it and re-joined; the next one must succeed.
			lostAt := ""
			if _, err := a.Heartbeat(ctx); err != nil {
				if !errors.Is(err, tooz.ErrSessionLost) {
					t.Fatalf("first heartbeat after the restart: %v", err)
				}
				lostAt = err.Error()
				if _, err := a.Heartbeat(ctx); err != nil {
					t.Fatalf("heartbeat after the new session: %v", err)
				}
			}
			lost := a.Stats().SessionsLost > 0
			switch {
			case down < tc.timeout/2 && lost:
				t.Fatalf("a %v outage cost a session with a %v timeout: %s", down, tc.timeout, lostAt)
			case down > 2*tc.timeout && !lost:
				t.Fatalf("a %v outage did not cost the session with a %v timeout", down, tc.timeout)
			case lost:
				t.Logf("session lost as expected: %s", lostAt)
				testutil.WaitClosed(t, la.Lost(), eventWait, "the lock's Lost after the session was lost")
				// The session itself may have outlived the outage on the
				// agent (tooz's own deadline passed first): then a must
				// have given the lock up, which c's Acquire below checks.
				if sessionOf(t, a) == before {
					t.Log("tooz's deadline passed, but the session outlived the outage on the agent")
				}
			default:
				if !la.Held() || sessionOf(t, a) != before {
					t.Fatalf("the session did not ride out a %v outage (timeout %v)", down, tc.timeout)
				}
			}
			if la.Held() {
				p, _, err := raw.KV().Get(h.ownerKey(t, tooz.KindLock, name), &api.QueryOptions{RequireConsistent: true})
				if err != nil || p == nil || p.Session != sessionOf(t, a) {
					t.Fatalf("a's handle claims the lock, but Consul records %+v, %v", p, err)
				}
			}
			ms, err := w.Members(ctx, g)
			if err != nil || len(ms) != 1 || ms[0] != "a" {
				t.Fatalf("members after the restart: %q, %v; want a", ms, err)
			}
			// The watch survived: a new member is reported; a's leave
			// and re-join only if its session was lost.
			c := open(t, h, "c")
			testutil.Must(t, c.JoinGroup(ctx, g, nil), "c joins")
			for {
				ev := recv(t, events, eventWait, "c's join")
				if ev == (memberEvent{"join", "c"}) {
					break
				}
				if ev.member != "a" || !lost {
					t.Fatalf("event %+v over the restart (a's session lost: %v)", ev, lost)
				}
			}
			// The lock is usable by others once a lets go.
			if la.Held() {
				testutil.Must(t, la.Release(ctx), "a releases")
			}
			testutil.Must(t, c.Lock(name).Acquire(ctx), "c locks after the restart")
		})
	}
}

// TestWaitInterrupted cancels a waiter in the middle of its blocking query:
// Acquire returns at once, not after the query's wait, and its queue entry
// is gone.
func TestWaitInterrupted(t *testing.T) {
	s := testserver.StartConsul(t)
	raw := rawClient(t, s)
	h := newHarness(s, "")
	ctx := testutil.Context(t, time.Minute)
	a := open(t, h, "a")
	b := open(t, h, "b")
	name := testutil.Unique("lock")
	testutil.Must(t, a.Lock(name).Acquire(ctx), "a locks")
	base := h.keys(t).resBase(tooz.Resource{Kind: tooz.KindLock, Name: name})
	queued := func(q *api.QueryOptions) (int, uint64) {
		keys, meta, err := raw.KV().Keys(base+queuePrefix, "", q)
		if err != nil {
			t.Fatalf("list queue: %v", err)
		}
		return len(keys), meta.LastIndex
	}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Lock(name).Acquire(bctx) }()
	// Wait (with a blocking query of our own) until b is queued.
	n, idx := queued(nil)
	for n == 0 {
		n, idx = queued(&api.QueryOptions{WaitIndex: idx, WaitTime: eventWait})
	}
	cancelled := time.Now()
	cancel()
	err := recv(t, done, eventWait, "the cancelled Acquire")
	if !errors.Is(err, tooz.ErrNotAcquired) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Acquire: %v, want ErrNotAcquired wrapping context.Canceled", err)
	}
	if took := time.Since(cancelled); took > time.Second {
		t.Fatalf("Acquire returned %v after its context was cancelled", took)
	}
	if n, _ := queued(&api.QueryOptions{RequireConsistent: true}); n != 0 {
		t.Fatalf("%d queue entries left after the waiter withdrew", n)
	}
}

// TestAgentPaused freezes the agent (SIGSTOP) while a waiter and a group
// watch are in the middle of blocking queries, for less than the timeout:
// when it runs again both carry on, and nothing is lost.
func TestAgentPaused(t *testing.T) {
	s := testserver.StartConsul(t)
	h := newHarness(s, "")
	h.LivenessTimeout = 6 * time.Second // the pause must stay well within it
	ctx := testutil.Context(t, time.Minute)
	a := open(t, h, "a")
	b := open(t, h, "b")
	w := open(t, h, "w")
	g := testutil.Unique("g")
	testutil.Must(t, w.CreateGroup(ctx, g), "create")
	events := watchMembers(t, w, g)
	name := testutil.Unique("lock")
	la := a.Lock(name)
	testutil.Must(t, la.Acquire(ctx), "a locks")
	got := make(chan error, 1)
	go func() { got <- b.Lock(name).Acquire(ctx) }()
	// b is waiting once its queue entry exists.
	raw := rawClient(t, s)
	base := h.keys(t).resBase(tooz.Resource{Kind: tooz.KindLock, Name: name})
	keys, meta, err := raw.KV().Keys(base+queuePrefix, "", nil)
	for err == nil && len(keys) == 0 {
		keys, meta, err = raw.KV().Keys(base+queuePrefix, "", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: eventWait})
	}
	testutil.Must(t, err, "wait for b to queue")

	s.Pause()
	pause := time.NewTimer(time.Second) // the fault's duration, not synchronization
	<-pause.C
	s.Resume()

	testutil.Must(t, a.JoinGroup(ctx, g, nil), "a joins after the pause")
	expectEvent(t, events, memberEvent{"join", "a"})
	select {
	case err := <-got:
		t.Fatalf("b's Acquire ended while a held the lock: %v", err)
	default:
	}
	if !la.Held() {
		t.Fatal("a lost its lock over a pause shorter than the timeout")
	}
	testutil.Must(t, la.Release(ctx), "a releases")
	testutil.Must(t, recv(t, got, eventWait, "b's lock after a released"), "b acquires")
}

// TestWatchIndexReset restores an older snapshot, which sends Consul's
// indexes backwards: the group watch must notice at once, re-list and
// report the difference.
func TestWatchIndexReset(t *testing.T) {
	s := testserver.StartConsul(t)
	raw := rawClient(t, s)
	h := newHarness(s, "")
	logs := newLogSink()
	ctx := testutil.Context(t, time.Minute)
	a := open(t, h, "a")
	b := open(t, h, "b")
	w := open(t, h, "w", tooz.WithLogger(slog.New(logs)))
	g := testutil.Unique("g")
	testutil.Must(t, a.JoinGroupCreate(ctx, g, nil), "a joins")
	snap, _, err := raw.Snapshot().Save(nil)
	testutil.Must(t, err, "save snapshot")
	data, err := io.ReadAll(snap)
	snap.Close()
	testutil.Must(t, err, "read snapshot")
	events := watchMembers(t, w, g)
	testutil.Must(t, b.JoinGroup(ctx, g, nil), "b joins")
	expectEvent(t, events, memberEvent{"join", "b"})
	restored := time.Now()
	testutil.Must(t, raw.Snapshot().Restore(nil, bytes.NewReader(data)), "restore snapshot")
	// b's membership is not in the snapshot.
	expectEvent(t, events, memberEvent{"leave", "b"})
	t.Logf("leave reported %v after the restore", time.Since(restored).Round(time.Millisecond))
	logs.waitFor(t, "re-listing", eventWait)
}
