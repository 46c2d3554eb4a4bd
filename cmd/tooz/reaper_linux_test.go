// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestKilledToozKillsGrandchildren checks that a tooz killed with SIGKILL
// leaves nothing of its command running: not the command, and not what the
// command started (a grandchild), before the next tooz gets the lock.
func TestKilledToozKillsGrandchildren(t *testing.T) {
	e := fileEnv(t)
	lock := unique("lock")
	pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
	// sh forks sleep (the grandchild) and waits for it.
	p := e.start(t, "lock", lock, "--", "sh", "-c", `sleep 300 & echo $! > "$0"; wait`, pidFile)
	text := waitFile(t, pidFile, countLines(1), shortWait)
	pid, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", text, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	// A pidfd taken while the grandchild runs becomes readable when it ends.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("grandchild %d is not running before tooz is killed: %v", pid, err)
	}
	defer unix.Close(fd)
	p.signal(syscall.SIGKILL)
	p.wait(shortWait)
	if !ended(t, fd, shortWait) {
		t.Fatalf("grandchild %d still runs %v after tooz was killed", pid, shortWait)
	}
	// The lock is free again, and nothing of the old command runs.
	e.mustRun(t, 0, "lock", lock, "--no-wait", "--", "true")
}

// ended waits up to d for the process of pidfd fd to end.
func ended(t *testing.T, fd int, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("poll pidfd: %v", err)
		}
		return n > 0
	}
}
