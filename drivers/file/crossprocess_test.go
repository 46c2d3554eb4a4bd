// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/drivers/file"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/testutil"
)

// open opens a coordinator closed at the end of the test.
func open(t *testing.T, url, member string, opts ...tooz.Option) *tooz.Coordinator {
	t.Helper()
	c, err := tooz.Open(context.Background(), url, member, opts...)
	if err != nil {
		t.Fatalf("open %s as %q: %v", url, member, err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close %q: %v", member, err)
		}
	})
	return c
}

// A lock held by another process excludes this one, names its holder, and
// is free the moment that process is killed.
func TestCrossProcessLockFreedOnKill(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir()
	ch := startChild(t, "lock", url, "child", "L")
	t1 := parseToken(t, ch.expect(t, "ready"))
	c := open(t, url, "parent")
	l := c.Lock("L")
	if ok, err := l.TryAcquire(ctx); err != nil || ok {
		t.Fatalf("TryAcquire of a lock another process holds = %v, %v", ok, err)
	}
	res := tooz.Resource{Kind: tooz.KindLock, Name: "L"}
	if id, err := c.Driver().Owner(ctx, res); err != nil || id != "child" {
		t.Fatalf("Owner of the lock = %q, %v; want the child", id, err)
	}
	if _, err := c.Leader(ctx, "L"); !errors.Is(err, tooz.ErrNoLeader) {
		t.Fatalf("Leader of a group named like a held lock: %v, want ErrNoLeader", err)
	}
	got := make(chan error, 1)
	go func() { got <- l.Acquire(ctx) }()
	select {
	case err := <-got:
		t.Fatalf("acquired while the child holds the lock: %v", err)
	default:
	}
	killed, reaped := ch.kill(t)
	if err := <-got; err != nil {
		t.Fatalf("acquire after the holder was killed: %v", err)
	}
	acquired := time.Now()
	if id, err := c.Driver().Owner(ctx, res); err != nil || id != "parent" {
		t.Fatalf("Owner of the lock = %q, %v; want parent", id, err)
	}
	t.Logf("lock acquired %v after SIGKILL of its holder, %v after the holder was reaped (child token %d, ours %d)",
		acquired.Sub(killed).Round(time.Microsecond), acquired.Sub(reaped).Round(time.Microsecond), t1, l.FencingToken())
	if late := acquired.Sub(reaped); late > 500*time.Millisecond {
		t.Errorf("lock acquired %v after its holder was reaped; the kernel freed it before", late)
	}
	if l.FencingToken() <= t1 {
		t.Errorf("fencing token %d not above the killed holder's %d", l.FencingToken(), t1)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// Leader reads the leader another process published, and reports no leader
// once that process is dead, although its owner file stays on disk.
func TestCrossProcessLeaderOfDeadProcess(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	dir := t.TempDir()
	url := "file://" + dir
	ch := startChild(t, "elect", url, "child leader", "G")
	t1 := parseToken(t, ch.expect(t, "ready"))
	c := open(t, url, "parent")
	if id, err := c.Leader(ctx, "G"); err != nil || id != "child leader" {
		t.Fatalf("Leader = %q, %v; want the child", id, err)
	}
	ch.kill(t)
	// The dead leader's record is still on disk: only its mark died with it.
	lockFile := filepath.Join(dir, keyspace.Escape(tooz.DefaultNamespace), "elections", keyspace.Escape("G"))
	if b, err := os.ReadFile(lockFile); err != nil || !bytes.Contains(b, []byte("child leader")) {
		t.Fatalf("the dead leader's record should still be on disk for this test to mean anything: %q, %v", b, err)
	}
	if id, err := c.Leader(ctx, "G"); !errors.Is(err, tooz.ErrNoLeader) {
		t.Fatalf("Leader after the leader's process died = %q, %v; want ErrNoLeader", id, err)
	}
	l, err := c.Campaign(ctx, "G")
	if err != nil {
		t.Fatal(err)
	}
	if l.FencingToken() <= t1 {
		t.Errorf("token %d not above the dead leader's %d", l.FencingToken(), t1)
	}
	if id, err := c.Leader(ctx, "G"); err != nil || id != "parent" {
		t.Fatalf("Leader = %q, %v; want parent", id, err)
	}
}

// A member joined by another process is seen joining, and leaves within
// the timeout (plus a little) after that process is killed; its files go.
func TestCrossProcessMemberExpiresAfterKill(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	dir := t.TempDir()
	const timeout = time.Second
	url := "file://" + dir + "?timeout=1s"
	c := open(t, url, "watcher")
	if err := c.CreateGroup(ctx, "G"); err != nil {
		t.Fatal(err)
	}
	joined := make(chan tooz.MemberJoined, 4)
	left := make(chan time.Time, 4)
	wj, err := c.WatchJoinGroup(ctx, "G", func(e tooz.MemberJoined) { joined <- e })
	if err != nil {
		t.Fatal(err)
	}
	defer wj.Stop()
	wl, err := c.WatchLeaveGroup(ctx, "G", func(e tooz.MemberLeft) {
		if e.Member == "child" {
			left <- time.Now()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Stop()
	ch := startChild(t, "join", url, "child", "G")
	ch.expect(t, "ready")
	select {
	case e := <-joined:
		if e.Member != "child" {
			t.Fatalf("joined %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the child's join was not seen")
	}
	killed, _ := ch.kill(t)
	// The child's session is the one that is not the watcher's; its last
	// heartbeat plus the timeout is when it must expire.
	ns := filepath.Join(dir, keyspace.Escape(tooz.DefaultNamespace))
	var deadline time.Time
	entries, err := os.ReadDir(filepath.Join(ns, "sessions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if p := filepath.Join(ns, "sessions", e.Name()); p != file.SessionFile(c) {
			if fi, err := os.Stat(p); err == nil {
				deadline = fi.ModTime().Add(timeout)
			}
		}
	}
	if deadline.IsZero() {
		t.Fatal("the killed child's session file is gone before its timeout")
	}
	select {
	case at := <-left:
		t.Logf("the killed member left %v after SIGKILL, %v after its session deadline (timeout %v)",
			at.Sub(killed).Round(time.Millisecond), at.Sub(deadline).Round(time.Microsecond), timeout)
		if at.Before(deadline.Add(-5 * time.Millisecond)) {
			t.Errorf("left %v before its session deadline", deadline.Sub(at))
		}
		if at.Sub(killed) > timeout+500*time.Millisecond {
			t.Errorf("left %v after the kill, more than the timeout %v + 500ms", at.Sub(killed), timeout)
		}
	case <-time.After(timeout + 5*time.Second):
		t.Fatal("the killed member never left")
	}
	ms, err := c.Members(ctx, "G")
	if err != nil || len(ms) != 0 {
		t.Fatalf("Members = %q, %v after the member expired", ms, err)
	}
	if _, err := os.Stat(filepath.Join(ns, "groups", "G", "child")); !os.IsNotExist(err) {
		t.Errorf("the expired member's file is still there: %v", err)
	}
	sessions, _ := os.ReadDir(filepath.Join(ns, "sessions"))
	if len(sessions) != 1 { // the watcher's own
		t.Errorf("%d session files after the child's expired, want 1 (the watcher's)", len(sessions))
	}
	if err := c.DeleteGroup(ctx, "G"); err != nil {
		t.Fatalf("delete the emptied group: %v", err)
	}
}

// Fencing tokens go up across processes, including past a killed holder.
func TestCrossProcessFencingTokens(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir()
	c := open(t, url, "parent")
	var last uint64
	for round := range 3 {
		ch := startChild(t, "lock", url, "child"+strconv.Itoa(round), "L")
		tc := parseToken(t, ch.expect(t, "ready"))
		if tc <= last {
			t.Fatalf("round %d: child's token %d not above %d", round, tc, last)
		}
		ch.kill(t)
		l := c.Lock("L")
		if err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		if l.FencingToken() <= tc {
			t.Fatalf("round %d: parent's token %d not above the child's %d", round, l.FencingToken(), tc)
		}
		last = l.FencingToken()
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// Two processes (and two handles in this one) hammering one lock never
// overlap, and every holder's token is above the one before.
func TestCrossProcessMutualExclusion(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir()
	shared := t.TempDir()
	const rounds = 40
	ch := startChild(t, "cycle", url, "child", "L", envRounds+"="+strconv.Itoa(rounds), envShared+"="+shared)
	c := open(t, url, "parent")
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- cycle(ctx, c.Lock("L"), shared, "parent/"+strconv.Itoa(i), rounds)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := ch.expect(t, "done"); got != "" {
		t.Fatalf("child: %s", got)
	}
	b, err := os.ReadFile(filepath.Join(shared, "last"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(string(b)); n != 3*rounds {
		t.Errorf("last token %d after %d critical sections", n, 3*rounds)
	}
}

// A waiter watches the recorded holder's process; when the flock is held
// by something that keeps no record (flock(1) run by hand) after that
// process died, it falls back to its backoff instead of spinning.
func TestWaiterDoesNotSpinOnForeignHolder(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	dir := t.TempDir()
	url := "file://" + dir
	ch := startChild(t, "lock", url, "child", "L")
	ch.expect(t, "ready")
	ch.kill(t)
	// The record still names the dead child; now a foreign flock holds the file.
	path := filepath.Join(dir, keyspace.Escape(tooz.DefaultNamespace), "locks", "L")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	c := open(t, url, "parent")
	var before, after unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &before)
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := c.Lock("L").Acquire(wctx); !errors.Is(err, tooz.ErrNotAcquired) {
		t.Fatalf("Acquire while a foreign flock holds the lock: %v, want ErrNotAcquired", err)
	}
	_ = unix.Getrusage(unix.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	t.Logf("waiting 500ms used %v of CPU", cpu)
	if cpu > 250*time.Millisecond {
		t.Errorf("waiting 500ms used %v of CPU: the waiter spins", cpu)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	if err := c.Lock("L").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
}
