// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/record"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestServerRestartWithoutPersistence kills Redis and starts it again
// empty: the held lock is reported lost, the member gets a new session and
// re-joins, watchers re-list, and fencing tokens keep growing although the
// counter was lost with everything else.
func TestServerRestartWithoutPersistence(t *testing.T) {
	s := testserver.StartRedis(t)
	url := testURL(s, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := open(t, url, "a", tooz.WithoutHeart()) // heartbeats by hand, to order them
	b := open(t, url, "b")
	g, lockName := testutil.Unique("g"), testutil.Unique("lock")
	if err := a.JoinGroupCreate(ctx, g, []byte("caps-a")); err != nil {
		t.Fatal(err)
	}
	la := a.Lock(lockName)
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	f1 := la.FencingToken()
	ev := newEvents()
	wj, err := b.WatchJoinGroup(ctx, g, ev.joined)
	if err != nil {
		t.Fatal(err)
	}
	defer wj.Stop()
	wl, err := b.WatchLeaveGroup(ctx, g, ev.left)
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Stop()

	s.Kill()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	// b's watch reconnects and lists the group, which is gone: a left.
	ev.want(t, 10*time.Second, "leave a")
	if err := retry(t, 10*time.Second, "create the group again", func() error { return b.CreateGroup(ctx, g) }); err != nil {
		t.Fatalf("create the group again: %v", err)
	}
	err = retry(t, 10*time.Second, "heartbeat", func() error { _, err := a.Heartbeat(ctx); return err })
	if !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("first heartbeat after the restart: %v, want ErrSessionLost", err)
	}
	waitClosed(t, la.Lost(), time.Second, "the lock's Lost after the session was lost")
	if err := la.Release(ctx); !errors.Is(err, tooz.ErrLockNotHeld) {
		t.Fatalf("release of the lost lock: %v", err)
	}
	ev.want(t, 10*time.Second, "join a")
	caps, err := b.MemberCapabilities(ctx, g, "a")
	if err != nil || string(caps) != "caps-a" {
		t.Fatalf("a's capabilities after re-joining: %q, %v", caps, err)
	}
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if f2 := la.FencingToken(); f2 <= f1 {
		t.Fatalf("fencing token after the restart %d, not above %d from before", f2, f1)
	}
}

// TestServerRestartWithAOF restarts a persistent Redis within the timeout:
// sessions survive, and a watcher that missed events while reconnecting
// catches up by listing again.
func TestServerRestartWithAOF(t *testing.T) {
	s := testserver.StartRedis(t, testserver.WithPersistence())
	url := testURL(s, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := open(t, url, "a", tooz.WithTimeout(10*time.Second))
	w := open(t, url, "w", tooz.WithTimeout(10*time.Second))
	g := testutil.Unique("g")
	if err := a.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	ev := newEvents()
	wj, err := w.WatchJoinGroup(ctx, g, ev.joined)
	if err != nil {
		t.Fatal(err)
	}
	defer wj.Stop()
	s.Kill()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	c := open(t, url, "c")
	if err := c.JoinGroup(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	ev.want(t, 10*time.Second, "join c")
	ms, err := c.Members(ctx, g)
	if err != nil || strings.Join(ms, ",") != "a,c" {
		t.Fatalf("members after the restart: %q, %v", ms, err)
	}
	if s := a.Stats(); s.SessionsLost != 0 {
		t.Fatalf("a lost its session across a restart with persistence: %+v", s)
	}
}

// TestServerPausedLockLost freezes Redis with SIGSTOP: the holder cannot
// refresh, and Lost closes by the local deadline (a lock_ttl after the
// last refresh started), without any answer from the server. Once the
// server runs again the lock expires there and another member takes it.
func TestServerPausedLockLost(t *testing.T) {
	s := testserver.StartRedis(t)
	const ttl = 600 * time.Millisecond
	url := testURL(s, "lock_ttl=600ms")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := open(t, url, "a")
	b := open(t, url, "b")
	name := testutil.Unique("lock")
	la := a.Lock(name)
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	f1 := la.FencingToken()
	s.Pause()
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			s.Resume()
		}
	}()
	waitClosed(t, la.Lost(), 5*time.Second, "Lost of a lock whose server is frozen")
	if d := time.Since(paused); d > ttl+300*time.Millisecond {
		t.Fatalf("Lost closed %v after the pause, more than the lock TTL %v (+300ms)", d, ttl)
	}
	t.Logf("Lost closed %v after the server froze (lock_ttl %v)", time.Since(paused).Round(time.Millisecond), ttl)
	s.Resume()
	resumed = true
	lb := b.Lock(name)
	if err := lb.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if f2 := lb.FencingToken(); f2 <= f1 {
		t.Fatalf("fencing token %d not above %d", f2, f1)
	}
}

// TestClientPausedPastTTL stops a member's heartbeats (as a stopped
// process would) while it holds a membership and a lock: another member's
// heart removes it actively, with a leave event on the group's channel,
// although nobody lists the group and nobody watches it through tooz.
func TestClientPausedPastTTL(t *testing.T) {
	s := testserver.StartRedis(t)
	url := testURL(s, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := open(t, url, "a", tooz.WithoutHeart())
	b := open(t, url, "b") // its heart reaps
	g := testutil.Unique("g")
	if err := a.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	la := a.Lock(testutil.Unique("lock"))
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	d := driverOf(t, a)
	ps := raw(t, s).Subscribe(ctx, d.gchan(keyspace.Escape(g)))
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	start := time.Now()
	// a stops heartbeating now; its lock's Lost closes by its local deadline.
	waitClosed(t, la.Lost(), testTimeout+time.Second, "Lost of a member that stopped heartbeating")
	limit := time.NewTimer(testTimeout + testTimeout/3 + 2*time.Second)
	defer limit.Stop()
	msgs := ps.Channel()
	for done := false; !done; {
		select {
		case m := <-msgs:
			if strings.HasSuffix(m.Payload, " L a") {
				done = true
			}
		case <-limit.C:
			t.Fatalf("no leave event for a within %v of its last heartbeat", time.Since(start))
		}
	}
	t.Logf("a removed %v after its last heartbeat (timeout %v)", time.Since(start).Round(time.Millisecond), testTimeout)
	if n, err := raw(t, s).HExists(ctx, d.gkey(keyspace.Escape(g)), "a").Result(); err != nil || n {
		t.Fatalf("a's entry still stored: %v, %v", n, err)
	}
	_, err := a.Heartbeat(ctx)
	if !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("heartbeat after the pause: %v, want ErrSessionLost", err)
	}
	ms, err := b.Members(ctx, g)
	if err != nil || strings.Join(ms, ",") != "a" {
		t.Fatalf("members after a's heartbeat: %q, %v (want a re-joined)", ms, err)
	}
}

// TestShortLockTTL holds a lock whose TTL is much shorter than the heart's
// interval: the conn's refresh timer keeps it.
func TestShortLockTTL(t *testing.T) {
	s := testserver.StartRedis(t)
	url := testURL(s, "lock_ttl=1s") // 500ms was lost to scheduling delays on a loaded machine
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := open(t, url, "a", tooz.WithTimeout(6*time.Second)) // beats every 2s
	b := open(t, url, "b")
	name := testutil.Unique("lock")
	la := a.Lock(name)
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// Hold it for 3s, three lock TTLs, watching Lost.
	select {
	case <-la.Lost():
		t.Fatal("a lock with a short TTL was lost while its holder ran")
	case <-time.After(3 * time.Second):
	}
	if ok, err := b.Lock(name).TryAcquire(ctx); ok || err != nil {
		t.Fatalf("b took a held lock: %v, %v (a's Lost closed: %v)", ok, err, !la.Held())
	}
	if owner, err := driverOf(t, b).Owner(ctx, tooz.Resource{Kind: tooz.KindLock, Name: name}); err != nil || owner != "a" {
		t.Fatalf("owner %q, %v", owner, err)
	}
}

// TestWatchRelistsAfterMissedEvent kills every pub/sub connection in the
// same transaction as a join, so the join's message reaches nobody: the
// watcher must notice the replaced connection and list the group again.
func TestWatchRelistsAfterMissedEvent(t *testing.T) {
	s := testserver.StartRedis(t)
	url := testURL(s, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := open(t, url, "w")
	b := open(t, url, "b")
	g := testutil.Unique("g")
	if err := w.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	ev := newEvents()
	wj, err := w.WatchJoinGroup(ctx, g, ev.joined)
	if err != nil {
		t.Fatal(err)
	}
	defer wj.Stop()

	d := driverOf(t, b)
	sid, err := d.current()
	if err != nil {
		t.Fatal(err)
	}
	eg := keyspace.Escape(g)
	now := time.Now()
	rec := record.Encode(record.Member{JoinedAt: now, UpdatedAt: now})
	pipe := raw(t, s).TxPipeline()
	kill := pipe.ClientKillByFilter(ctx, "TYPE", "pubsub")
	join := scriptJoin.Eval(ctx, pipe, []string{d.groupsKey(), d.gkey(eg), d.skey(sid), d.ikey(sid)}, d.p, eg, "b", sid, rec)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := kill.Result(); err != nil || n == 0 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %d, %v", n, err)
	}
	if r, err := join.Int64(); err != nil || r != 1 {
		t.Fatalf("join: %d, %v", r, err)
	}
	ev.want(t, 10*time.Second, "join b")
	// Events flow again on the new connection.
	c := open(t, url, "c")
	if err := c.JoinGroup(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	ev.want(t, 5*time.Second, "join c")
}

// TestLockHandOverFIFO queues three waiters behind a holder: each release
// hands the lock to the next in arrival order, with growing tokens.
func TestLockHandOverFIFO(t *testing.T) {
	s := testserver.StartRedis(t)
	url := testURL(s, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := testutil.Unique("lock")
	h := open(t, url, "holder")
	lh := h.Lock(name)
	if err := lh.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	d := driverOf(t, h)
	queue := d.lockKey(tooz.Resource{Kind: tooz.KindLock, Name: name}) + ":q"
	rdb := raw(t, s)
	type got struct {
		who   string
		token uint64
		lock  *tooz.Lock
	}
	order := make(chan got, 3)
	for i, who := range []string{"w1", "w2", "w3"} {
		c := open(t, url, who)
		l := c.Lock(name)
		go func() {
			if err := l.Acquire(ctx); err != nil {
				t.Errorf("%s: %v", who, err)
				order <- got{who: who}
				return
			}
			order <- got{who, l.FencingToken(), l}
		}()
		// Queue them one after the other.
		if err := waitLen(ctx, rdb, queue, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	prev := lh.FencingToken()
	if err := lh.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"w1", "w2", "w3"} {
		g := <-order
		if g.who != want {
			t.Fatalf("%s got the lock, want %s", g.who, want)
		}
		if g.token <= prev {
			t.Fatalf("%s got token %d, not above %d", g.who, g.token, prev)
		}
		prev = g.token
		if err := g.lock.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// waitLen waits until the list key holds n entries. Nothing publishes a
// queue's length, so it polls, with a deadline.
func waitLen(ctx context.Context, rdb *goredis.Client, key string, n int64) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if l, err := rdb.LLen(ctx, key).Result(); err == nil && l == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// TestDriverLockEndsWithSession checks the driver's own bookkeeping, without
// the Coordinator's liveness epoch: a lock refreshed by the conn's timer
// still ends with the session when heartbeats stop, and its Lost closes
// before another member can take it.
func TestDriverLockEndsWithSession(t *testing.T) {
	s := testserver.StartRedis(t)
	url := testURL(s, "lock_ttl=1s") // 500ms was lost to scheduling delays on a loaded machine // refreshed by the timer every 250ms
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := open(t, url, "a", tooz.WithoutHeart())
	b := open(t, url, "b")
	name := testutil.Unique("lock")
	own, err := driverOf(t, a).Acquire(ctx, tooz.Resource{Kind: tooz.KindLock, Name: name}, false)
	if err != nil {
		t.Fatal(err)
	}
	lb := b.Lock(name)
	if err := lb.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-own.Lost():
	default:
		t.Fatal("b holds the lock while a's driver still reports it held")
	}
}

// TestFencingCounterLostOrDamaged: a lock's fencing counter that is
// deleted (a restart without persistence) or holds no integer (damage)
// is seeded again from the server's clock: the next token is still above
// every earlier one, and nothing fails.
func TestFencingCounterLostOrDamaged(t *testing.T) {
	s := testserver.StartRedis(t)
	ctx := testutil.Context(t, 30*time.Second)
	rdb := raw(t, s)
	c := open(t, testURL(s, ""), "a")
	l := c.Lock(testutil.Unique("lock"))
	fk := driverOf(t, c).lockKey(tooz.Resource{Kind: tooz.KindLock, Name: l.Name()}) + ":f"
	last := uint64(0)
	take := func(what string) {
		t.Helper()
		testutil.Must(t, l.Acquire(ctx), "acquire "+what)
		if f := l.FencingToken(); f <= last {
			t.Fatalf("%s: fencing token %d, not above %d", what, f, last)
		} else {
			last = f
		}
		testutil.Must(t, l.Release(ctx), "release "+what)
	}
	take("first")
	take("second")
	testutil.Must(t, rdb.Del(ctx, fk).Err(), "delete the counter")
	take("after the counter was deleted")
	testutil.Must(t, rdb.Set(ctx, fk, "not a number", 0).Err(), "damage the counter")
	take("after the counter was damaged")
	take("after that")
}

// TestDeadHolderReaped: a lock whose holder's session is gone (its key
// deleted here; an expiry does the same) while the lock's own TTL still
// runs is taken at once, by a new acquisition and by a queued waiter's
// poll, and an owner query reports nobody: the hot-path scripts answer
// codeHolderDead, scriptFreeDeadHolder reaps the whole session (its
// membership leaves too) and the answer to the second ask is the lock.
func TestDeadHolderReaped(t *testing.T) {
	s := testserver.StartRedis(t)
	ctx := testutil.Context(t, 30*time.Second)
	rdb := raw(t, s)
	url := testURL(s, "lock_ttl=60s")
	group := testutil.Unique("group")
	b := open(t, url, "b")
	testutil.Must(t, b.CreateGroup(ctx, group), "create the group")
	kill := func(c *tooz.Coordinator) {
		t.Helper()
		d := driverOf(t, c)
		sid, err := d.current()
		testutil.Must(t, err, "a's session")
		testutil.Must(t, rdb.Del(ctx, d.skey(sid)).Err(), "delete a's session key")
	}

	t.Run("acquire", func(t *testing.T) {
		a := open(t, url, "a1", tooz.WithoutHeart())
		testutil.Must(t, a.JoinGroup(ctx, group, nil), "a joins")
		name := testutil.Unique("lock")
		testutil.Must(t, a.Lock(name).Acquire(ctx), "a acquires")
		lb := b.Lock(name)
		if ok, err := lb.TryAcquire(ctx); ok || err != nil {
			t.Fatalf("b's TryAcquire while a lives = %v, %v; want false, nil", ok, err)
		}
		kill(a)
		if ok, err := lb.TryAcquire(ctx); !ok || err != nil {
			t.Fatalf("b's TryAcquire after a's session died = %v, %v; want true, nil", ok, err)
		}
		members, err := b.Members(ctx, group)
		testutil.Must(t, err, "members")
		if slices.Contains(members, "a1") {
			t.Fatalf("members = %v: a's session was not reaped", members)
		}
		testutil.Must(t, lb.Release(ctx), "release")
	})

	t.Run("owner", func(t *testing.T) {
		a := open(t, url, "a3", tooz.WithoutHeart())
		testutil.Must(t, a.JoinGroup(ctx, group, nil), "a joins")
		name := testutil.Unique("lock")
		testutil.Must(t, a.Lock(name).Acquire(ctx), "a acquires")
		if id, err := b.Lock(name).Owner(ctx); id != "a3" || err != nil {
			t.Fatalf("Owner while a lives = %q, %v; want a3", id, err)
		}
		kill(a)
		if id, err := b.Lock(name).Owner(ctx); !errors.Is(err, tooz.ErrNoOwner) {
			t.Fatalf("Owner after a's session died = %q, %v; want ErrNoOwner", id, err)
		}
		members, err := b.Members(ctx, group)
		testutil.Must(t, err, "members")
		if slices.Contains(members, "a3") {
			t.Fatalf("members = %v: a's session was not reaped", members)
		}
	})

	t.Run("poll", func(t *testing.T) {
		a := open(t, url, "a2", tooz.WithoutHeart())
		testutil.Must(t, a.JoinGroup(ctx, group, nil), "a joins")
		res := tooz.Resource{Kind: tooz.KindLock, Name: testutil.Unique("lock")}
		testutil.Must(t, a.Lock(res.Name).Acquire(ctx), "a acquires")
		d := driverOf(t, b)
		sid, err := d.current()
		testutil.Must(t, err, "b's session")
		o := &ownership{c: d, lk: d.lockKey(res), tok: driverkit.NewID(), sid: sid, ttl: time.Minute, Hold: driverkit.NewHold()}
		entry := o.tok + "|" + sid + "|" + d.cid + "|" + ms(o.ttl) + "|" + d.member
		st, err := d.acquireOnce(ctx, o, true, entry)
		if err != nil || st.code != 0 || st.pos != 1 {
			t.Fatalf("b's queued acquisition = %+v, %v; want code 0 at position 1", st, err)
		}
		kill(a)
		st, err = d.poll(ctx, o, entry)
		if err != nil || st.code != 1 || st.fence == 0 {
			t.Fatalf("b's poll after a's session died = %+v, %v; want the lock", st, err)
		}
		own, err := d.acquired(ctx, o, st, nil)
		testutil.Must(t, err, "take the granted lock")
		members, err := b.Members(ctx, group)
		testutil.Must(t, err, "members")
		if slices.Contains(members, "a2") {
			t.Fatalf("members = %v: a's session was not reaped", members)
		}
		testutil.Must(t, own.Release(ctx), "release")
	})
}
