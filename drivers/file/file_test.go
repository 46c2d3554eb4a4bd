// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/drivers/file"
	"github.com/toozgo/tooz/internal/testutil"
)

// The polling fallback (for filesystems inotify does not cover): changes
// show within the interval, a leave and re-join between two polls is still
// a leave and a join, expiries are reported on time, waiters get released
// locks. (A join and leave both within one interval leave no trace for a
// poll to find; with inotify every change is reported.)
func TestPolling(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	const poll = 20 * time.Millisecond
	url := "file://" + t.TempDir() + "?poll=20ms&timeout=1s"
	w, a, b := open(t, url, "w"), open(t, url, "a"), open(t, url, "b")
	events := make(chan string, 16)
	wj, err := w.WatchJoinGroup(ctx, "G", func(e tooz.MemberJoined) { events <- "join " + e.Member })
	if err != nil {
		t.Fatal(err)
	}
	defer wj.Stop()
	wl, err := w.WatchLeaveGroup(ctx, "G", func(e tooz.MemberLeft) { events <- "leave " + e.Member })
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Stop()
	expect := func(want ...string) {
		t.Helper()
		for _, e := range want {
			if got := waitFor(t, events, 10*poll+time.Second); got != e {
				t.Fatalf("event %q, want %q", got, e)
			}
		}
	}
	start := time.Now()
	if err := a.JoinGroupCreate(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	expect("join a")
	t.Logf("join seen %v after it (polling every %v)", time.Since(start).Round(time.Millisecond), poll)
	if err := a.LeaveGroup(ctx, "G"); err != nil {
		t.Fatal(err)
	}
	if err := a.JoinGroup(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	expect("leave a", "join a")
	// A waiter polls for the lock too.
	la := a.Lock("L")
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Lock("L").Acquire(ctx) }()
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, got, 10*poll+time.Second); err != nil {
		t.Fatal(err)
	}
	// Expiry is timer-driven, not polled.
	if err := a.Abandon(); err != nil {
		t.Fatal(err)
	}
	expect("leave a")
}

// The suite again with the portable way for holders to show they are alive
// (a flocked owner file), which platforms without OFD locks use.
func TestConformancePortableOwnerFiles(t *testing.T) {
	old := file.UseOFDMarks(false)
	defer file.UseOFDMarks(old)
	if runtime.GOOS == "linux" && !old {
		t.Error("OFD locks are not used on Linux: the other tests ran the portable way")
	}
	conformance.Run(t, harness{conformance.URLHarness{URL: "file://" + t.TempDir(), LivenessTimeout: 1500 * time.Millisecond}})
}

func TestOpenRejectsBadURLs(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{
		"file://otherhost" + dir,
		"file:relative/dir",
		"file://user:s3cret@localhost" + dir,
		"file://" + dir + "?sync=maybe",
		"file://" + dir + "?poll=soon",
		"file://" + dir + "?bogus=1",
	} {
		_, err := tooz.Open(context.Background(), u, "m")
		if !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) leaks the password: %v", u, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("a refused Open wrote %d entries into the directory", len(entries))
	}
	c := open(t, "file://localhost"+dir+"?sync=true&poll=1s&namespace=a/b", "m")
	if err := c.CreateGroup(context.Background(), "g"); err != nil {
		t.Fatal(err)
	}
}

// Heartbeat notices that another member removed its session (it saw it
// expire): ownerships end, the error wraps ErrSessionLost, and a new
// session is in place, under which the coordinator re-joins its groups.
func TestSessionRemovedIsDetected(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir()
	a := open(t, url, "a", tooz.WithoutHeart())
	b := open(t, url, "b")
	if err := a.JoinGroupCreate(ctx, "G", []byte("caps")); err != nil {
		t.Fatal(err)
	}
	la := a.Lock("L")
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	left := make(chan string, 4)
	joined := make(chan string, 4)
	wl, err := b.WatchLeaveGroup(ctx, "G", func(e tooz.MemberLeft) { left <- e.Member })
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Stop()
	wj, err := b.WatchJoinGroup(ctx, "G", func(e tooz.MemberJoined) { joined <- e.Member })
	if err != nil {
		t.Fatal(err)
	}
	defer wj.Stop()
	old := file.SessionFile(a)
	if err := os.Remove(old); err != nil {
		t.Fatal(err)
	}
	// Without its session the member is gone for everyone at once.
	if got := waitFor(t, left, time.Second); got != "a" {
		t.Fatalf("left %q", got)
	}
	if _, err := a.Heartbeat(ctx); !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("Heartbeat after the session was removed: %v, want ErrSessionLost", err)
	}
	select {
	case <-la.Lost():
	default:
		t.Fatal("the lock is not reported lost after the session was lost")
	}
	if ok, err := b.Lock("L").TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("the lost lock is not free: %v, %v", ok, err)
	}
	if got := waitFor(t, joined, time.Second); got != "a" {
		t.Fatalf("joined %q", got)
	}
	if now := file.SessionFile(a); now == "" || now == old {
		t.Fatalf("session after the loss: %q (was %q)", now, old)
	}
	if caps, err := b.MemberCapabilities(ctx, "G", "a"); err != nil || string(caps) != "caps" {
		t.Fatalf("capabilities after the re-join: %q, %v", caps, err)
	}
	if _, err := a.Heartbeat(ctx); err != nil {
		t.Fatalf("the next heartbeat: %v", err)
	}
}

// A member that stops heartbeating expires by its own clock too: its next
// beat reports the loss rather than bringing the member back to life.
func TestLateHeartbeatDoesNotRevive(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir() + "?timeout=1s"
	a := open(t, url, "a", tooz.WithoutHeart())
	if err := a.JoinGroupCreate(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-2 * time.Second)
	if err := os.Chtimes(file.SessionFile(a), past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Heartbeat(ctx); !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("Heartbeat after the timeout passed: %v, want ErrSessionLost", err)
	}
	if ms, err := a.Members(ctx, "G"); err != nil || !slices.Equal(ms, []string{"a"}) {
		t.Fatalf("Members after re-joining = %q, %v", ms, err)
	}
}

// A member whose process lives but stops beating stays until the timeout,
// and the leave is reported right after the session's deadline; the files
// are then removed.
func TestSilentMemberExpiresOnTime(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	const timeout = 3 * time.Second
	url := "file://" + t.TempDir() + "?timeout=3s"
	a := open(t, url, "a", tooz.WithoutHeart())
	w := open(t, url, "w")
	if err := a.JoinGroupCreate(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	left := make(chan time.Time, 1)
	wl, err := w.WatchLeaveGroup(ctx, "G", func(tooz.MemberLeft) { left <- time.Now() })
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Stop()
	sess := file.SessionFile(a)
	memberFile := filepath.Join(file.GroupDir(a, "G"), "a")
	fi, err := os.Stat(sess)
	if err != nil {
		t.Fatal(err)
	}
	deadline := fi.ModTime().Add(timeout)
	if time.Now().Before(deadline) {
		if ms, err := w.Members(ctx, "G"); err != nil || !slices.Contains(ms, "a") {
			t.Fatalf("Members before the deadline = %q, %v; the member must stay until it expires", ms, err)
		}
	}
	at := <-left
	late := at.Sub(deadline)
	t.Logf("leave reported %v after the session deadline", late.Round(time.Microsecond))
	if late < -5*time.Millisecond {
		t.Errorf("leave reported %v before the deadline", -late)
	}
	// The watcher's timer fires 1ms after the deadline (a few ms in all);
	// the bound leaves room for a loaded machine (half a second was seen
	// with a dozen processes on 2 cores), and still fails if the expiry
	// were found by polling at the heartbeat interval (1s here).
	if late > 700*time.Millisecond {
		t.Errorf("leave reported %v after the deadline, want within a few ms (700ms allowed for load)", late)
	}
	if ms, err := w.Members(ctx, "G"); err != nil || len(ms) != 0 {
		t.Fatalf("Members after expiry = %q, %v", ms, err)
	}
	for _, p := range []string{sess, memberFile} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after expiry: %v", p, err)
		}
	}
}

// Abandon behaves like a killed process: the kernel drops its flocks, so
// its lock is free at once and its session is provably dead: the first
// reader removes it, the membership is gone and its leave reported,
// without waiting for the timeout.
func TestAbandonedMemberGoneAtOnce(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir() + "?timeout=30s"
	a := open(t, url, "a")
	w := open(t, url, "w")
	if err := a.JoinGroupCreate(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock("L").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	left := make(chan string, 1)
	wl, err := w.WatchLeaveGroup(ctx, "G", func(e tooz.MemberLeft) { left <- e.Member })
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Stop()
	sess := file.SessionFile(a)
	memberFile := filepath.Join(file.GroupDir(a, "G"), "a")
	if err := a.Abandon(); err != nil {
		t.Fatal(err)
	}
	if ok, err := w.Lock("L").TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("an abandoned coordinator's lock is not free at once: %v, %v", ok, err)
	}
	if ms, err := w.Members(ctx, "G"); err != nil || len(ms) != 0 {
		t.Fatalf("Members after the crash = %q, %v; the dead process's member must be gone (timeout 30s)", ms, err)
	}
	select {
	case m := <-left:
		if m != "a" {
			t.Fatalf("leave of %q, want a", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no leave event for the crashed member (timeout 30s)")
	}
	for _, p := range []string{sess, memberFile} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after the crash was found: %v", p, err)
		}
	}
}

// Events arrive well within 100ms of the change.
func TestEventLatency(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir()
	w, m := open(t, url, "w"), open(t, url, "m")
	if err := w.CreateGroup(ctx, "G"); err != nil {
		t.Fatal(err)
	}
	joined := make(chan time.Time, 1)
	left := make(chan time.Time, 1)
	wj, err := w.WatchJoinGroup(ctx, "G", func(tooz.MemberJoined) { joined <- time.Now() })
	if err != nil {
		t.Fatal(err)
	}
	defer wj.Stop()
	wl, err := w.WatchLeaveGroup(ctx, "G", func(tooz.MemberLeft) { left <- time.Now() })
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Stop()
	var lat []time.Duration
	for range 20 {
		start := time.Now()
		if err := m.JoinGroup(ctx, "G", nil); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, (<-joined).Sub(start))
		start = time.Now()
		if err := m.LeaveGroup(ctx, "G"); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, (<-left).Sub(start))
	}
	slices.Sort(lat)
	t.Logf("change to hook: median %v, max %v", lat[len(lat)/2], lat[len(lat)-1])
	if lat[len(lat)/2] > 100*time.Millisecond {
		t.Errorf("median event latency %v, want under 100ms", lat[len(lat)/2])
	}
}

// Members whose session expired do not keep a group from being deleted;
// live ones do.
func TestDeleteGroupWithExpiredMembers(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir()
	a := open(t, url, "a")
	b := open(t, url, "b")
	if err := a.JoinGroupCreate(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteGroup(ctx, "G"); !errors.Is(err, tooz.ErrGroupNotEmpty) {
		t.Fatalf("delete with a live member: %v", err)
	}
	sess := file.SessionFile(a)
	if err := a.Abandon(); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(sess, past, past); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteGroup(ctx, "G"); err != nil {
		t.Fatalf("delete with only an expired member: %v", err)
	}
	if _, err := os.Stat(file.GroupDir(b, "G")); !os.IsNotExist(err) {
		t.Fatalf("group directory after delete: %v", err)
	}
}

// A watch follows a group through deletion and re-creation.
func TestWatchFollowsRecreatedGroup(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir()
	w, m := open(t, url, "w"), open(t, url, "m")
	events := make(chan string, 16)
	wj, err := w.WatchJoinGroup(ctx, "G", func(e tooz.MemberJoined) { events <- "join " + e.Member })
	if err != nil {
		t.Fatal(err)
	}
	defer wj.Stop()
	wl, err := w.WatchLeaveGroup(ctx, "G", func(e tooz.MemberLeft) { events <- "leave " + e.Member })
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Stop()
	for round := range 3 {
		if err := m.JoinGroupCreate(ctx, "G", nil); err != nil {
			t.Fatal(err)
		}
		if got := waitFor(t, events, 5*time.Second); got != "join m" {
			t.Fatalf("round %d: %q, want join m", round, got)
		}
		if err := m.LeaveGroup(ctx, "G"); err != nil {
			t.Fatal(err)
		}
		if got := waitFor(t, events, 5*time.Second); got != "leave m" {
			t.Fatalf("round %d: %q, want leave m", round, got)
		}
		if err := m.DeleteGroup(ctx, "G"); err != nil {
			t.Fatal(err)
		}
	}
}

// Group names too long to escape into a file name are hashed; a hashed
// group left half made by a crash does not exist until created again.
func TestHashedGroupNames(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir()
	c := open(t, url, "m")
	long := strings.Repeat("é/", 85)
	if name := file.EntryName(long); !strings.HasPrefix(name, "=") {
		t.Fatalf("entry name of a long ID %q is not hashed", name)
	}
	// A crashed creator left the directory without its name file.
	if err := os.MkdirAll(file.GroupDir(c, long), 0o777); err != nil {
		t.Fatal(err)
	}
	if gs, err := c.Groups(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("Groups with a half-made group = %q, %v", gs, err)
	}
	if err := c.JoinGroup(ctx, long, nil); !errors.Is(err, tooz.ErrGroupNotCreated) {
		t.Fatalf("join a half-made group: %v", err)
	}
	if err := c.CreateGroup(ctx, long); err != nil {
		t.Fatalf("create over a half-made group: %v", err)
	}
	if err := c.CreateGroup(ctx, long); !errors.Is(err, tooz.ErrGroupAlreadyExists) {
		t.Fatalf("create twice: %v", err)
	}
	if err := c.JoinGroup(ctx, long, nil); err != nil {
		t.Fatal(err)
	}
	if gs, err := c.Groups(ctx); err != nil || !slices.Equal(gs, []string{long}) {
		t.Fatalf("Groups = %q, %v", gs, err)
	}
	if err := c.LeaveGroup(ctx, long); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteGroup(ctx, long); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file.GroupDir(c, long)); !os.IsNotExist(err) {
		t.Fatalf("hashed group directory after delete: %v", err)
	}
}

// Files the driver did not write are ignored, never fatal.
func TestForeignFilesIgnored(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	url := "file://" + t.TempDir()
	c := open(t, url, "m")
	if err := c.JoinGroupCreate(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(file.GroupDir(c, "G"), "intruder"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ms, err := c.Members(ctx, "G"); err != nil || !slices.Equal(ms, []string{"m"}) {
		t.Fatalf("Members with a foreign file = %q, %v", ms, err)
	}
	if _, err := c.MemberInfo(ctx, "G", "intruder"); !errors.Is(err, tooz.ErrMemberNotJoined) {
		t.Fatalf("MemberInfo of a foreign file: %v", err)
	}
	if err := c.LeaveGroup(ctx, "G"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteGroup(ctx, "G"); !errors.Is(err, tooz.ErrGroupNotEmpty) || !strings.Contains(err.Error(), "intruder") {
		t.Fatalf("delete of a group holding a foreign file: %v, want ErrGroupNotEmpty naming it", err)
	}
}

func waitFor[T any](t *testing.T, ch <-chan T, d time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("nothing within %v", d)
	}
	var zero T
	return zero
}

// A namespace directory removed from under running coordinators (an
// operator wiping the state) is made again by the next heartbeat.
func TestNamespaceRemovedUnderneath(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	dir := t.TempDir()
	a := open(t, "file://"+dir, "a", tooz.WithoutHeart())
	if err := a.JoinGroupCreate(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, tooz.DefaultNamespace)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Heartbeat(ctx); !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("Heartbeat after the namespace was removed: %v, want ErrSessionLost", err)
	}
	if gs, err := a.Groups(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("Groups after the namespace was removed = %q, %v", gs, err)
	}
	if err := a.JoinGroupCreate(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock("L").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
}
