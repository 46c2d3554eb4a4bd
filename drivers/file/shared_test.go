// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestSharedForeignFilesIgnored: files in a semaphore's or read/write
// lock's directory whose name is no contender's are ignored with a log
// line; a contender file nobody holds a flock on (its process died) is
// removed: neither is counted as a holder.
func TestSharedForeignFilesIgnored(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	dir := t.TempDir()
	var logs testutil.LogBuffer
	c := open(t, "file://"+dir, "m", tooz.WithLogger(logs.Logger()))
	name := testutil.Unique("foreign")
	var dead []string
	for _, kind := range []string{"semaphores", "rwlocks"} {
		d := filepath.Join(dir, "tooz", kind, name)
		testutil.Must(t, os.MkdirAll(d, 0o777), "mkdir")
		// The counter at 10: the forged contenders are older than ours.
		testutil.Must(t, os.WriteFile(filepath.Join(d, ".seq"), []byte{0, 0, 0, 0, 0, 0, 0, 10}, 0o666), "write the counter")
		for _, n := range []string{"garbage", "00000000000000000001-q1", "00000000000000000002-x3", "00000000000000000003-s01", "00000000000000000004-x0"} {
			testutil.Must(t, os.WriteFile(filepath.Join(d, n), []byte("ghost"), 0o666), "write")
		}
		dead = append(dead, filepath.Join(d, "00000000000000000004-x0"))
	}
	testutil.CheckForeignIgnored(t, ctx, c, name, &logs, "ignoring a file")
	for _, p := range dead {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("a dead contender's file is still there: %v", err)
		}
	}
}

// idleFiles lists the hidden idle contender files of a semaphore's directory.
func idleFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	testutil.Must(t, err, "list the semaphore's directory")
	var idle []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".idle-") {
			idle = append(idle, e.Name())
		}
	}
	return idle
}

// TestSharedIdleFilesReused: a coordinator keeps the contender file of a
// permit it held alone, hidden, and reuses it; a contender that held
// behind another is removed; nobody counts the kept files as contenders;
// Close removes them, and those of a coordinator that crashed are removed
// by the next coordinator that opens the directory.
func TestSharedIdleFilesReused(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	root := t.TempDir()
	url := "file://" + root
	name := testutil.Unique("idle")
	dir := filepath.Join(root, "tooz", "semaphores", name)
	a := open(t, url, "a")
	s1, s2 := a.Semaphore(name, 2), a.Semaphore(name, 2)
	for range 3 {
		testutil.Must(t, s1.Acquire(ctx), "a takes a permit")
		testutil.Must(t, s1.Release(ctx), "a gives it back")
		testutil.Must(t, s2.Acquire(ctx), "a takes a permit on its other handle")
		testutil.Must(t, s2.Release(ctx), "a gives it back")
	}
	if idle := idleFiles(t, dir); len(idle) != 1 {
		t.Fatalf("idle files after six permits held one at a time: %v, want 1 (reused, not made anew)", idle)
	}
	testutil.Must(t, s1.Acquire(ctx), "a takes a permit")
	testutil.Must(t, s2.Acquire(ctx), "a takes the other permit, behind the first")
	testutil.Must(t, s2.Release(ctx), "a gives the second back")
	testutil.Must(t, s1.Release(ctx), "a gives the first back")
	if idle := idleFiles(t, dir); len(idle) != 1 {
		t.Fatalf("idle files after two permits held at once: %v, want 1 (the one held behind another is removed)", idle)
	}
	b := open(t, url, "b")
	sb1, sb2 := b.Semaphore(name, 2), b.Semaphore(name, 2)
	ok, err := sb1.TryAcquire(ctx)
	testutil.Must(t, err, "b tries")
	ok2, err := sb2.TryAcquire(ctx)
	testutil.Must(t, err, "b tries again")
	if !ok || !ok2 {
		t.Fatalf("b took %v, %v of 2 free permits: a's idle file was counted", ok, ok2)
	}
	got, err := sb1.Holders(ctx)
	testutil.Must(t, err, "holders")
	if len(got) != 2 || got[0] != "b" || got[1] != "b" {
		t.Fatalf("holders %v, want [b b]", got)
	}
	testutil.Must(t, sb2.Release(ctx), "b gives one back")
	testutil.Must(t, sb1.Release(ctx), "b gives the other back")
	testutil.Must(t, sb1.Acquire(ctx), "b takes a permit alone")
	testutil.Must(t, sb1.Release(ctx), "b gives it back")

	testutil.Must(t, a.Close(ctx), "a closes")
	if idle := idleFiles(t, dir); len(idle) != 1 {
		t.Fatalf("idle files after a closed: %v, want b's only", idle)
	}
	b.Abandon() // a crash: b's idle file stays, unlocked
	c := open(t, url, "c")
	testutil.Must(t, c.Semaphore(name, 2).Acquire(ctx), "c takes a permit")
	if idle := idleFiles(t, dir); len(idle) != 0 {
		t.Fatalf("idle files of a crashed coordinator still there after another opened the directory: %v", idle)
	}
}

// TestSharedDirectoryRemovedByHand: a semaphore's directory removed while
// a coordinator keeps it open is made again at the next acquisition, in
// the directory every other coordinator sees.
func TestSharedDirectoryRemovedByHand(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	root := t.TempDir()
	url := "file://" + root
	name := testutil.Unique("removed")
	a, b := open(t, url, "a"), open(t, url, "b")
	sa, sb := a.Semaphore(name, 1), b.Semaphore(name, 1)
	testutil.Must(t, sa.Acquire(ctx), "a takes the permit")
	testutil.Must(t, sa.Release(ctx), "a gives it back")
	testutil.Must(t, os.RemoveAll(filepath.Join(root, "tooz", "semaphores", name)), "remove the directory")
	testutil.Must(t, sa.Acquire(ctx), "a takes the permit in the directory made again")
	ok, err := sb.TryAcquire(ctx)
	testutil.Must(t, err, "b tries")
	if ok {
		t.Fatal("b took the only permit while a holds it: a's contender is in a removed directory")
	}
	got, err := sb.Holders(ctx)
	testutil.Must(t, err, "holders")
	if len(got) != 1 || got[0] != "a" {
		t.Fatalf("holders %v, want [a]", got)
	}
	testutil.Must(t, sa.Release(ctx), "a gives it back")
}
