// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	neturl "net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// harness runs the conformance suite on a real ZooKeeper. It can end a
// live coordinator's session: the ZooKeeper client pings on its own, so
// merely not calling Heartbeat would never expire it.
type harness struct {
	conformance.URLHarness
}

// ExpireSession implements conformance.SessionExpirer with a partition:
// c's connections are cut and refused until the server must have expired
// the session (timeout plus a margin for the server's tick), then allowed
// again, so that c reconnects and learns of the expiry. This is what a
// real expiry looks like: the coordinator's own deadline reports its locks
// lost before the server lets anyone else take them.
// FoldsUpdates implements conformance.UpdateFolder: a ZooKeeper
// notification carries no data, so the watch reads a member's znode after
// it, and quick successive updates (or a join and an update) may be
// reported as the last one. Joins and leaves are never folded: the
// persistent watch reports every one.
func (harness) FoldsUpdates() bool { return true }

// BreakHistory implements conformance.HistoryBreaker: c's persistent
// watches lose their connections (and so their sessions) and stay
// disconnected while during runs.
func (harness) BreakHistory(ctx context.Context, t *testing.T, c *tooz.Coordinator, during func() error) error {
	d, ok := c.Driver().(*conn)
	if !ok {
		return errors.New("not a zookeeper coordinator")
	}
	hold := make(chan struct{})
	d.testHoldWatches.Store(&hold)
	defer func() {
		d.testHoldWatches.Store(nil)
		close(hold)
	}()
	d.mu.Lock()
	ws := slices.Collect(maps.Keys(d.pwatches))
	d.mu.Unlock()
	if len(ws) == 0 {
		return errors.New("no persistent watch to break")
	}
	for _, w := range ws {
		w.cut()
	}
	return during()
}

func (h harness) ExpireSession(ctx context.Context, t *testing.T, c *tooz.Coordinator) error {
	d, ok := c.Driver().(*conn)
	if !ok {
		return errors.New("not a zookeeper coordinator")
	}
	s, _, _ := d.current()
	s.dial.block()
	time.AfterFunc(h.LivenessTimeout+time.Second, s.dial.unblock)
	return nil
}

func TestConformance(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	conformance.Run(t, harness{conformance.URLHarness{
		URL:             "zookeeper://" + srv.Addr + "/conformance",
		LivenessTimeout: 2 * time.Second,
	}})
}

// unique returns a name for this test's run.
func unique(s string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return s + "-" + hex.EncodeToString(b[:])
}

// open opens a coordinator closed at the end of the test.
func open(t *testing.T, url, member string, opts ...tooz.Option) *tooz.Coordinator {
	t.Helper()
	return testutil.Open(t, 20*time.Second, url, member, opts...)
}

func drv(c *tooz.Coordinator) *conn { return c.Driver().(*conn) }

// waitState waits until d reports want.
func waitState(t *testing.T, d *conn, want SessionState, within time.Duration) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		st, ch := d.SessionState()
		if st == want {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("session state %v after %v, want %v", st, within, want)
		}
	}
}

// expireSession makes the server end session s while its client lives:
// the client is cut off (so that it does not take the session back at
// once), another connection resumes the session with its ID and password
// and closes it, and the client is let back in, to find its session
// expired.
func expireSession(t *testing.T, s *session, addr string) {
	t.Helper()
	sid, pwd := s.dial.credentials()
	if sid == 0 || sid != s.id() {
		t.Fatalf("session id %x, recorded %x", sid, s.id())
	}
	s.dial.block()
	defer s.dial.unblock()
	if err := closeSessionAs(addr, sid, pwd, s.c.timeout); err != nil {
		t.Fatal(err)
	}
}

// rawClient is a plain ZooKeeper client for inspecting what the driver wrote.
func rawClient(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	z, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	return z
}

// events records membership events of one group.
type events struct {
	mu      sync.Mutex
	evs     []string
	changed chan struct{}
}

func watchGroup(t *testing.T, c *tooz.Coordinator, g string) *events {
	t.Helper()
	e := &events{changed: make(chan struct{})}
	add := func(s string) {
		e.mu.Lock()
		e.evs = append(e.evs, s)
		close(e.changed)
		e.changed = make(chan struct{})
		e.mu.Unlock()
	}
	ctx := testutil.Context(t, time.Minute)
	wj, err := c.WatchJoinGroup(ctx, g, func(ev tooz.MemberJoined) { add("join " + ev.Member) })
	if err != nil {
		t.Fatal(err)
	}
	wl, err := c.WatchLeaveGroup(ctx, g, func(ev tooz.MemberLeft) { add("leave " + ev.Member) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wj.Stop(); wl.Stop() })
	return e
}

// waitFor waits until the events seen include want, in that order.
func (e *events) waitFor(t *testing.T, within time.Duration, want ...string) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		evs := slices.Clone(e.evs)
		ch := e.changed
		e.mu.Unlock()
		i := 0
		for _, ev := range evs {
			if i < len(want) && ev == want[i] {
				i++
			}
		}
		if i == len(want) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("waited %v for %q; events: %q", within, want, evs)
		}
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	for _, u := range []string{
		"zookeeper://",
		"zookeeper://127.0.0.1:2181?bogus=1",
		"zookeeper://127.0.0.1:99999",
		"zookeeper://127.0.0.1:x",
		"zookeeper://127.0.0.1:2181/a//b",
		"zookeeper://127.0.0.1:2181/a/../b",
		"zookeeper://127.0.0.1:2181/a/./b",
		"zookeeper://127.0.0.1:2181?timeout=-1s",
		"zookeeper://:secret@127.0.0.1:2181",
	} {
		start := time.Now()
		_, err := tooz.Open(ctx, u, "m")
		if !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", u, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Open(%q) took %v: validation must come before any I/O", u, d)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	start := time.Now()
	// Port 1 on loopback refuses at once: every host failing ends Open
	// without waiting for the connect timeout.
	_, err := tooz.Open(ctx, "zookeeper://u:secret@127.0.0.1:1,127.0.0.1:2/x", "m")
	if !errors.Is(err, tooz.ErrConnection) {
		t.Fatalf("Open of an unreachable server = %v, want ErrConnection", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error shows the password: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Open took %v to find that every host refuses", d)
	}
}

// TestTimeoutBelowServerMinimum: a timeout the server would raise to its
// minSessionTimeout (500ms on the test server) is refused at Open, with
// the minimum in the message, instead of silently freeing a crashed
// member's locks later than the timeout says.
func TestTimeoutBelowServerMinimum(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	_, err := tooz.Open(ctx, "zookeeper://"+srv.Addr+"?timeout=300ms", "m")
	if !errors.Is(err, tooz.ErrInvalidURL) || !strings.Contains(err.Error(), "500ms") {
		t.Fatalf("Open with timeout=300ms = %v, want ErrInvalidURL naming the 500ms minimum", err)
	}
	c, err := tooz.Open(ctx, "zookeeper://"+srv.Addr+"?timeout=500ms", "m")
	if err != nil {
		t.Fatalf("Open with the minimum timeout: %v", err)
	}
	_ = c.Close(ctx)
}

func TestDigestAuth(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	base := srv.Addr + "/auth"
	a := open(t, "zookeeper://app:right@"+base, "a")
	g := unique("g")
	if err := a.JoinGroupCreate(ctx, g, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// The same identity shares the namespace.
	b := open(t, "zookeeper://app:right@"+base, "b")
	if ms, err := b.Members(ctx, g); err != nil || !slices.Equal(ms, []string{"a"}) {
		t.Fatalf("members seen with the same credentials: %q, %v", ms, err)
	}
	// Other credentials, or none, are refused: ErrAuth, password not shown.
	for _, u := range []string{"zookeeper://app:wrong@" + base, "zookeeper://" + base} {
		c, err := tooz.Open(ctx, u, "c")
		if err == nil {
			_, err = c.Members(ctx, g)
			_ = c.Close(ctx)
		}
		if !errors.Is(err, tooz.ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", strings.Replace(u, "wrong", "xxxxx", 1), err)
		}
		if err != nil && (strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "right")) {
			t.Errorf("error shows a password: %v", err)
		}
	}
}

// TestLayout checks where the driver puts things: a group's children are
// its members only, elections and locks live elsewhere, IDs are escaped,
// and a group being campaigned for can still be deleted (tooz's Python
// driver puts the leader znode inside the group, which blocks that).
func TestLayout(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	url := "zookeeper://" + srv.Addr + "/chroot/x?namespace=" + "ns/1"
	member := "m/../ é"
	g := "../g/."
	a := open(t, url, member)
	b := open(t, url, "b")
	if err := a.JoinGroupCreate(ctx, g, []byte("caps")); err != nil {
		t.Fatal(err)
	}
	lead, err := a.Campaign(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	l := a.Lock(g)
	if err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	z := rawClient(t, srv.Addr)
	root := "/chroot/x/" + keyspace.Escape("ns/1")
	children, _, err := z.Children(root + "/groups/" + keyspace.Escape(g))
	if err != nil || !slices.Equal(children, []string{keyspace.Escape(member)}) {
		t.Fatalf("group znode's children = %q, %v; want only the member", children, err)
	}
	data, st, err := z.Get(root + "/groups/" + keyspace.Escape(g) + "/" + keyspace.Escape(member))
	if err != nil || string(data) != "caps" || st.EphemeralOwner == 0 {
		t.Fatalf("member znode: %q, ephemeral owner %x, %v", data, st.EphemeralOwner, err)
	}
	for dir, token := range map[string]uint64{
		root + "/elections/" + keyspace.Escape(g): lead.FencingToken(),
		root + "/locks/" + keyspace.Escape(g):     l.FencingToken(),
	} {
		ch, _, err := z.Children(dir)
		if err != nil || len(ch) != 1 || !strings.HasPrefix(ch[0], contenderPrefix) {
			t.Fatalf("%s: %q, %v; want one contender", dir, ch, err)
		}
		data, st, err := z.Get(dir + "/" + ch[0])
		if err != nil || string(data) != member || st.EphemeralOwner == 0 {
			t.Fatalf("contender znode: %q, ephemeral owner %x, %v", data, st.EphemeralOwner, err)
		}
		if token != uint64(st.Czxid) {
			t.Fatalf("%s: fencing token %d, owner znode's czxid %d", dir, token, st.Czxid)
		}
	}
	if id, err := b.Leader(ctx, g); err != nil || id != member {
		t.Fatalf("leader = %q, %v", id, err)
	}
	// The czxids came with the creates' replies: no stat was read.
	if n := drv(a).statReads.Load(); n != 0 {
		t.Errorf("%d contender stats read for 2 uncontended acquisitions", n)
	}
	info, err := b.MemberInfo(ctx, g, member)
	if err != nil || info.JoinedAt.IsZero() || time.Since(info.JoinedAt) > time.Minute || info.UpdatedAt.Before(info.JoinedAt) {
		t.Fatalf("member info %+v, %v", info, err)
	}
	if err := a.LeaveGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	// The leader's candidacy does not keep the group from being deleted.
	if err := b.DeleteGroup(ctx, g); err != nil {
		t.Fatalf("delete a group whose leader is campaigning: %v", err)
	}
	if id, err := b.Leader(ctx, g); err != nil || id != member {
		t.Fatalf("leader after the group's deletion = %q, %v", id, err)
	}
	gs, err := b.Groups(ctx)
	if err != nil || slices.Contains(gs, g) {
		t.Fatalf("groups = %q, %v", gs, err)
	}
}

// TestAbandonLeavesEphemeralsUntilTimeout checks that Abandon does not
// send closeSession: the member stays listed until its session times out.
func TestAbandonLeavesEphemeralsUntilTimeout(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	const timeout = 2 * time.Second
	url := "zookeeper://" + srv.Addr + "/abandon"
	g := unique("g")
	a := open(t, url, "a", tooz.WithTimeout(timeout))
	w := open(t, url, "w")
	if err := a.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock("l").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	ev := watchGroup(t, w, g)
	abandoned := time.Now()
	if err := a.Abandon(); err != nil {
		t.Fatal(err)
	}
	if ms, err := w.Members(ctx, g); err != nil || !slices.Contains(ms, "a") {
		t.Fatalf("right after Abandon, members = %q, %v; the session must outlive the process", ms, err)
	}
	if id, err := w.Driver().Owner(ctx, tooz.Resource{Kind: tooz.KindLock, Name: "l"}); err != nil || id != "a" {
		t.Fatalf("right after Abandon, lock owner = %q, %v", id, err)
	}
	ev.waitFor(t, timeout+5*time.Second, "leave a")
	gone := time.Since(abandoned)
	t.Logf("abandoned member left after %v (timeout %v)", gone.Round(time.Millisecond), timeout)
	// The client pings every timeout/3: the server heard from it at most
	// that long before Abandon, and keeps the session a full timeout after.
	if gone < timeout*2/3 {
		t.Fatalf("abandoned member left after %v, before its session could time out (%v)", gone, timeout)
	}
}

// TestSessionExpiryWhileHoldingLockAndLeading expires a coordinator's
// session on the server (another connection resumes the session and
// closes it) while it holds a lock, leads a group and is a member.
func TestSessionExpiryWhileHoldingLockAndLeading(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	const timeout = 3 * time.Second
	url := "zookeeper://" + srv.Addr + "/expiry"
	g, lockName := unique("g"), unique("l")
	a := open(t, url, "a", tooz.WithTimeout(timeout))
	b := open(t, url, "b", tooz.WithTimeout(timeout))
	w := open(t, url, "w")
	if err := a.JoinGroupCreate(ctx, g, []byte("caps-a")); err != nil {
		t.Fatal(err)
	}
	la := a.Lock(lockName)
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	lead, err := a.Campaign(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	ev := watchGroup(t, w, g)
	lockToken, leadToken := la.FencingToken(), lead.FencingToken()
	got := contendBoth(ctx, t, b, lockName, g)

	da := drv(a)
	s, _, _ := da.current()
	sid := s.id()
	expireSession(t, s, srv.Addr)
	// The server deleted a's znodes: b takes over, w sees a leave.
	for range 2 {
		select {
		case tok := <-got:
			if tok <= max(lockToken, leadToken) {
				t.Fatalf("new owner's token %d not above the old ones (%d, %d)", tok, lockToken, leadToken)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("b did not take over after a's session was closed")
		}
	}
	ev.waitFor(t, 10*time.Second, "leave a")
	// a learns of it when it reconnects: Lost closes, the state says lost,
	// then the heart's next beat opens a new session and re-joins.
	testutil.WaitClosed(t, la.Lost(), 10*time.Second, "a's lock to be reported lost")
	testutil.WaitClosed(t, lead.Lost(), 10*time.Second, "a's leadership to end")
	if la.Held() {
		t.Fatal("a still claims the lock")
	}
	ev.waitFor(t, 10*time.Second, "leave a", "join a")
	waitState(t, da, StateConnected, 10*time.Second)
	if ns, _, _ := da.current(); ns == s || ns.id() == sid {
		t.Fatalf("still on session %x", sid)
	}
	if st := a.Stats(); st.SessionsLost == 0 {
		t.Fatal("Stats().SessionsLost = 0")
	}
	caps, err := w.MemberCapabilities(ctx, g, "a")
	if err != nil || string(caps) != "caps-a" {
		t.Fatalf("a re-joined with %q, %v", caps, err)
	}
	if err := la.Release(ctx); !errors.Is(err, tooz.ErrLockNotHeld) {
		t.Fatalf("release of the lost lock: %v", err)
	}
}

// TestExpiryReportedByDriver drives the driver directly (no heart): the
// expiry closes Lost as soon as the client hears of it, and Heartbeat then
// reports ErrSessionLost once, with a new session in place.
func TestExpiryReportedByDriver(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	const timeout = 3 * time.Second
	a := open(t, "zookeeper://"+srv.Addr+"/expiry2", "a", tooz.WithTimeout(timeout), tooz.WithoutHeart())
	d := drv(a)
	own, err := d.Acquire(ctx, tooz.Resource{Kind: tooz.KindLock, Name: "l"}, false)
	if err != nil {
		t.Fatal(err)
	}
	s, _, _ := d.current()
	expireSession(t, s, srv.Addr)
	testutil.WaitClosed(t, own.Lost(), 10*time.Second, "the ownership to be lost")
	waitState(t, d, StateLost, time.Second)
	if err := d.JoinGroup(ctx, "g", nil); !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("join on an expired session: %v, want ErrSessionLost", err)
	}
	if _, err := d.Heartbeat(ctx); !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("first heartbeat after expiry: %v, want ErrSessionLost", err)
	}
	if _, err := d.Heartbeat(ctx); err != nil {
		t.Fatalf("second heartbeat: %v", err)
	}
	if st, _ := d.SessionState(); st != StateConnected {
		t.Fatalf("state %v after the new session", st)
	}
	if err := own.Release(ctx); !errors.Is(err, tooz.ErrLockNotHeld) {
		t.Fatalf("release after expiry: %v", err)
	}
	own2, err := d.Acquire(ctx, tooz.Resource{Kind: tooz.KindLock, Name: "l"}, false)
	if err != nil {
		t.Fatalf("acquire on the new session: %v", err)
	}
	if own2.FencingToken() <= own.FencingToken() {
		t.Fatalf("token %d after %d", own2.FencingToken(), own.FencingToken())
	}
}

// TestSuspendedIsNotLost cuts a coordinator off for less than its session
// timeout: it is suspended, then connected again, and keeps everything.
func TestSuspendedIsNotLost(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	const timeout = 6 * time.Second
	url := "zookeeper://" + srv.Addr + "/suspend"
	g, lockName := unique("g"), unique("l")
	a := open(t, url, "a", tooz.WithTimeout(timeout))
	b := open(t, url, "b")
	if err := a.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	la := a.Lock(lockName)
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	d := drv(a)
	s, _, _ := d.current()
	s.dial.block()
	waitState(t, d, StateSuspended, 5*time.Second)
	// While suspended, the session and its znodes live on the server.
	if ok, err := b.Lock(lockName).TryAcquire(ctx); err != nil || ok {
		t.Fatalf("b's TryAcquire while a is suspended = %v, %v", ok, err)
	}
	s.dial.unblock()
	waitState(t, d, StateConnected, 5*time.Second)
	if la.Held() == false {
		t.Fatal("a lost its lock over a short disconnection")
	}
	if ns, _, _ := d.current(); ns != s {
		t.Fatal("a short disconnection replaced the session")
	}
	if ms, err := b.Members(ctx, g); err != nil || !slices.Equal(ms, []string{"a"}) {
		t.Fatalf("members = %q, %v", ms, err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatalf("release after reconnecting: %v", err)
	}
}

// TestSilentServerDuringReconnect reconnects a suspended coordinator to a
// server that accepts the connection but never answers the connect request
// (what a ZooKeeper 3.8 server does to a client that connects while it is
// starting): the driver gives up on that connection early enough to
// resume the session on the next one. The client alone would wait for the
// answer ten times its receive timeout, long after the session expired.
func TestSilentServerDuringReconnect(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	px := startProxy(t, srv.Addr)
	ctx := testutil.Context(t, time.Minute)
	const timeout = 9 * time.Second
	g, lockName := unique("g"), unique("l")
	a := open(t, "zookeeper://"+px.Addr()+"/silent", "a", tooz.WithTimeout(timeout))
	b := open(t, "zookeeper://"+srv.Addr+"/silent", "b")
	if err := a.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	la := a.Lock(lockName)
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	d := drv(a)
	s, _, _ := d.current()
	swallowed := px.mute()
	waitState(t, d, StateSuspended, 5*time.Second)
	testutil.WaitClosed(t, swallowed, timeout, "the client to connect to the silent server")
	px.unmute()
	began := time.Now()
	// The session outlives the disconnection by its timeout: the driver
	// must be back within it, on the same session.
	waitState(t, d, StateConnected, timeout)
	t.Logf("reconnected %v after the silent connection", time.Since(began).Round(time.Millisecond))
	if ns, _, _ := d.current(); ns != s {
		t.Fatal("the session was replaced")
	}
	if !la.Held() {
		t.Fatal("a lost its lock")
	}
	if ms, err := b.Members(ctx, g); err != nil || !slices.Equal(ms, []string{"a"}) {
		t.Fatalf("members = %q, %v", ms, err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatalf("release after reconnecting: %v", err)
	}
}

// TestServerRestart restarts ZooKeeper under coordinators holding a lock,
// a membership and a watch: sessions survive a restart shorter than their
// timeout, and the watch reports what changed while the server was away.
func TestServerRestart(t *testing.T) {
	srv := testserver.StartZooKeeper(t)
	ctx := testutil.Context(t, time.Minute)
	// The coordinator keeps its lock if it beats again within 0.9 timeout
	// of its last beat. Between them: the restart (a graceful stop, then
	// up to 8s of start-up measured on a loaded 2-core machine), the
	// reconnection (up to timeout/3 + 1s when the client connected while
	// the server was still starting: see dialer.handshakeTimeoutLocked)
	// and the heart's retry interval (1s). With the last beat just before
	// the restart (below), 30s leaves about 5s to spare; 15s was not
	// enough.
	const timeout = 30 * time.Second
	url := "zookeeper://" + srv.Addr + "/restart"
	g, lockName := unique("g"), unique("l")
	a := open(t, url, "a", tooz.WithTimeout(timeout))
	w := open(t, url, "w", tooz.WithTimeout(timeout))
	if err := a.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	la := a.Lock(lockName)
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	token := la.FencingToken()
	ev := watchGroup(t, w, g)
	sa, _, _ := drv(a).current()
	// Beat now, so that the time the restart may take does not depend on
	// where the restart falls between two beats.
	if _, err := a.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitState(t, drv(a), StateConnected, timeout)
	waitState(t, drv(w), StateConnected, timeout)
	d := drv(a)
	d.mu.Lock()
	suspensions, sess := d.suspend, d.sess
	d.mu.Unlock()
	if suspensions == 0 || sess != sa {
		t.Fatalf("after the restart: %d suspensions, same session %v; want a suspension and the same session", suspensions, sess == sa)
	}
	if !la.Held() || la.FencingToken() != token {
		t.Fatal("a lost its lock over a server restart shorter than its session timeout")
	}
	// A change right after the restart reaches the watch.
	c := open(t, url, "c")
	if err := c.JoinGroup(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	ev.waitFor(t, 10*time.Second, "join c")
	if err := la.Release(ctx); err != nil {
		t.Fatalf("release after the restart: %v", err)
	}
	if ok, err := c.Lock(lockName).TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("TryAcquire after release = %v, %v", ok, err)
	}
}

// TestWatchFiresDuringReconnect changes a group while its watcher is
// disconnected: on reconnection the watch fires (the client re-registers
// it with the last zxid it saw) and the re-listing reports every change.
func TestWatchFiresDuringReconnect(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	px := startProxy(t, srv.Addr)
	ctx := testutil.Context(t, time.Minute)
	g := unique("g")
	direct := "zookeeper://" + srv.Addr + "/reconnect"
	a := open(t, direct, "a")
	b := open(t, direct, "b")
	if err := a.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	w := open(t, "zookeeper://"+px.Addr()+"/reconnect", "w", tooz.WithTimeout(10*time.Second))
	ev := watchGroup(t, w, g)
	d := drv(w)
	px.block()
	waitState(t, d, StateSuspended, 10*time.Second)
	// While w is away: a leaves, b joins, a joins again.
	if err := a.LeaveGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := b.JoinGroup(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.JoinGroup(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	px.unblock()
	waitState(t, d, StateConnected, 10*time.Second)
	// a's leave and re-join are both reported (its znode is newer than
	// the last listing), then b's and a's joins in creation order.
	ev.waitFor(t, 10*time.Second, "leave a", "join b", "join a")
	// And the watch still works afterwards.
	if err := b.LeaveGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	ev.waitFor(t, 10*time.Second, "leave a", "join b", "join a", "leave b")
}

// TestProtectedCreates loses the server's reply to creates and deletes
// that the server did execute: the driver, reconnected within the session,
// must recognise its own success instead of failing or duplicating.
func TestProtectedCreates(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	px := startProxy(t, srv.Addr)
	ctx := testutil.Context(t, time.Minute)
	url := "zookeeper://" + px.Addr() + "/protected"
	a := open(t, url, "a", tooz.WithTimeout(10*time.Second))
	z := rawClient(t, srv.Addr)
	root := "/protected/tooz"
	g, lockName := unique("g"), unique("l")

	step := func(what string, op int32, f func() error) {
		t.Helper()
		lost := px.loseReply(op)
		if err := f(); err != nil {
			t.Fatalf("%s with its reply lost: %v", what, err)
		}
		select {
		case <-lost:
		default:
			t.Fatalf("%s: no reply was lost (the proxy did not see the request)", what)
		}
	}
	step("create group", opCreate, func() error { return a.CreateGroup(ctx, g) })
	step("join", opCreate, func() error { return a.JoinGroup(ctx, g, []byte("c")) })
	if ms, err := a.Members(ctx, g); err != nil || !slices.Equal(ms, []string{"a"}) {
		t.Fatalf("members = %q, %v", ms, err)
	}
	// Make the lock's directory first, so that the lost reply is the contender's.
	l := a.Lock(lockName)
	if err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	step("acquire", opCreate, func() error { return l.Acquire(ctx) })
	ch, _, err := z.Children(root + "/locks/" + keyspace.Escape(lockName))
	if err != nil || len(ch) != 1 {
		t.Fatalf("contenders after a retried acquire: %q, %v; want exactly one", ch, err)
	}
	// Its czxid, lost with the reply, was read from its stat.
	_, st, err := z.Get(root + "/locks/" + keyspace.Escape(lockName) + "/" + ch[0])
	if err != nil {
		t.Fatal(err)
	}
	if uint64(st.Czxid) != l.FencingToken() {
		t.Fatalf("token %d after a retried acquire; the contender's czxid %d", l.FencingToken(), st.Czxid)
	}
	step("release", opDelete, func() error { return l.Release(ctx) })
	step("leave", opDelete, func() error { return a.LeaveGroup(ctx, g) })
	step("delete group", opDelete, func() error { return a.DeleteGroup(ctx, g) })
	if ok, _, err := z.Exists(root + "/groups/" + keyspace.Escape(g)); err != nil || ok {
		t.Fatalf("group still there: %v, %v", ok, err)
	}
}

// TestHandOverTokens queues three contenders: each owner's fencing token is
// its znode's czxid, tokens increase, and a waiter whose predecessor was
// the owner takes over when that znode goes (without listing again).
func TestHandOverTokens(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	url := "zookeeper://" + srv.Addr + "/handover"
	name := unique("l")
	z := rawClient(t, srv.Addr)
	dir := "/handover/tooz/locks/" + keyspace.Escape(name)
	var ds []*conn
	for _, m := range []string{"a", "b", "c"} {
		ds = append(ds, drv(open(t, url, m)))
	}
	res := tooz.Resource{Kind: tooz.KindLock, Name: name}
	first, err := ds[0].Acquire(ctx, res, true)
	if err != nil {
		t.Fatal(err)
	}
	owners := make(chan tooz.Ownership, 2)
	for _, d := range ds[1:] {
		go func() {
			o, err := d.Acquire(ctx, res, true)
			if err != nil {
				t.Error(err)
				o = nil
			}
			owners <- o
		}()
		// Queue them in order: wait until the contender's znode is there.
		for {
			ch, _, ev, err := z.ChildrenW(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ch) == len(ds[:slices.Index(ds, d)+1]) {
				break
			}
			<-ev
		}
	}
	czxidOfOwner := func() uint64 {
		ch, _, err := z.Children(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, st, err := z.Get(dir + "/" + lowest(ch))
		if err != nil {
			t.Fatal(err)
		}
		return uint64(st.Czxid)
	}
	if got := czxidOfOwner(); first.FencingToken() != got {
		t.Fatalf("first owner's token %d, its czxid %d", first.FencingToken(), got)
	}
	prev := first
	for range 2 {
		if err := prev.Release(ctx); err != nil {
			t.Fatal(err)
		}
		var next tooz.Ownership
		select {
		case next = <-owners:
		case <-time.After(10 * time.Second):
			t.Fatal("no hand-over")
		}
		if next == nil {
			t.FailNow()
		}
		if got := czxidOfOwner(); next.FencingToken() != got || next.FencingToken() <= prev.FencingToken() {
			t.Fatalf("tokens: previous %d, next %d, next owner's czxid %d", prev.FencingToken(), next.FencingToken(), got)
		}
		prev = next
	}
	if err := prev.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestParseURL(t *testing.T) {
	mustParse := func(raw string) settings {
		t.Helper()
		u, err := neturl.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		st, err := parse(tooz.Config{URL: u, Hosts: strings.Split(u.Host, ","), Timeout: 3 * time.Second})
		if err != nil {
			t.Fatalf("parse(%q): %v", raw, err)
		}
		return st
	}
	st := mustParse("zookeeper://u:p%40ss@zk1,10.0.0.1,zk2:2182/a/b/")
	if want := []string{"zk1:2181", "10.0.0.1:2181", "zk2:2182"}; !slices.Equal(st.hosts, want) {
		t.Errorf("hosts = %q, want %q", st.hosts, want)
	}
	for raw, want := range map[string]string{"zookeeper://[::1]": "[::1]:2181", "zookeeper://[::1]:2183/x": "[::1]:2183"} {
		if st := mustParse(raw); !slices.Equal(st.hosts, []string{want}) {
			t.Errorf("%s: hosts = %q, want %q", raw, st.hosts, want)
		}
	}
	if st.chroot != "/a/b" || string(st.auth) != "u:p@ss" || st.timeout != 3*time.Second {
		t.Errorf("chroot %q, auth %q, timeout %v", st.chroot, st.auth, st.timeout)
	}
	if st := mustParse("zookeeper://h/"); st.chroot != "" || st.auth != nil {
		t.Errorf("no chroot, no credentials: got %q, %q", st.chroot, st.auth)
	}
}

// TestGiveUpMidCreate ends an Acquire's and a JoinGroup's context while
// their create is at the server and its reply held back: when the call
// returns, the znode it created is gone (a waiter that gave up is out of
// the queue; a join that failed left no member behind).
func TestGiveUpMidCreate(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	px := startProxy(t, srv.Addr)
	ctx := testutil.Context(t, time.Minute)
	a := open(t, "zookeeper://"+px.Addr()+"/giveup", "a", tooz.WithTimeout(10*time.Second))
	z := rawClient(t, srv.Addr)
	g, name := unique("g"), unique("l")
	if err := a.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	l := a.Lock(name)
	if err := l.Acquire(ctx); err != nil { // makes the lock's directory
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for what, f := range map[string]func(context.Context) error{
		"acquire": func(ctx context.Context) error { return a.Lock(name).Acquire(ctx) },
		"join":    func(ctx context.Context) error { return a.JoinGroup(ctx, g, nil) },
	} {
		px.stall()
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- f(cctx) }()
		<-cctx.Done()
		px.unstall()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return after its context ended", what)
		}
		cancel()
		if err == nil {
			t.Fatalf("%s succeeded after its context ended", what)
		}
		for _, dir := range []string{"/giveup/tooz/locks/" + keyspace.Escape(name), "/giveup/tooz/groups/" + keyspace.Escape(g)} {
			if ch, _, err := z.Children(dir); err != nil || len(ch) != 0 {
				t.Fatalf("after the %s gave up, %s holds %q (%v)", what, dir, ch, err)
			}
		}
	}
}

// TestServerPaused stalls ZooKeeper (SIGSTOP) for longer than a holder's
// session timeout: the holder's own deadline reports its lock and
// leadership lost while the server is frozen, before anyone could take
// them; once the server runs again the lock goes to a waiter and the
// holder is a member again (its session survived, or it was replaced and
// the groups re-joined, depending on which the server did first: after a
// short freeze it usually revalidates the reconnecting session, after a
// long one it expires it).
func TestServerPaused(t *testing.T) {
	for _, extra := range []time.Duration{0, 4 * time.Second} {
		t.Run(fmt.Sprintf("extra=%v", extra), func(t *testing.T) { testServerPaused(t, extra) })
	}
}

func testServerPaused(t *testing.T, extra time.Duration) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	const timeout = 2 * time.Second
	url := "zookeeper://" + srv.Addr + "/paused"
	g, name := unique("g"), unique("l")
	a := open(t, url, "a", tooz.WithTimeout(timeout))
	b := open(t, url, "b", tooz.WithTimeout(10*time.Second))
	if err := a.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	la := a.Lock(name)
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	lead, err := a.Campaign(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	ev := watchGroup(t, b, g)
	sa, _, _ := drv(a).current()
	srv.Pause()
	paused := time.Now()
	testutil.WaitClosed(t, la.Lost(), timeout+5*time.Second, "a's lock to be reported lost while the server is frozen")
	testutil.WaitClosed(t, lead.Lost(), time.Second, "a's leadership to end")
	if d := time.Since(paused); d > timeout+2*time.Second {
		t.Errorf("lock reported lost %v after the server froze (timeout %v)", d, timeout)
	}
	// The freeze's length past that point is the fault under test, not a
	// synchronization.
	<-time.After(extra)
	srv.Resume()
	bctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	lb := b.Lock(name)
	if err := lb.Acquire(bctx); err != nil {
		t.Fatalf("b after the server resumed: %v", err)
	}
	waitState(t, drv(a), StateConnected, 20*time.Second)
	if ns, _, _ := drv(a).current(); ns != sa {
		t.Log("a's session expired while the server was frozen; waiting for its re-join")
		ev.waitFor(t, 20*time.Second, "leave a", "join a")
	} else {
		t.Log("a's session survived the freeze")
		if ms, err := b.Members(ctx, g); err != nil || !slices.Contains(ms, "a") {
			t.Fatalf("members = %q, %v", ms, err)
		}
	}
}

// contendBoth makes b wait for lock lockName and campaign in group g at
// once; each fencing token b gets (0 after an error) comes on the channel.
func contendBoth(ctx context.Context, t *testing.T, b *tooz.Coordinator, lockName, g string) <-chan uint64 {
	got := make(chan uint64, 2)
	go func() {
		lb := b.Lock(lockName)
		if err := lb.Acquire(ctx); err != nil {
			t.Errorf("b lock: %v", err)
			got <- 0
			return
		}
		got <- lb.FencingToken()
	}()
	go func() {
		l, err := b.Campaign(ctx, g)
		if err != nil {
			t.Errorf("b campaign: %v", err)
			got <- 0
			return
		}
		got <- l.FencingToken()
	}()
	return got
}
