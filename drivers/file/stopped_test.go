// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testutil"
)

// A holder frozen with SIGSTOP keeps its flock lock for as long as it is
// frozen, far past its liveness timeout: the kernel frees a flock only when
// its process dies, and no timeout of the file driver applies to locks.
// (RELIABILITY.md: file:// trades the lease's bounded takeover for no
// overlap while the holder is frozen.) Resumed, it sees its liveness lapsed,
// reports the lock lost and releases it; the next holder's token is greater.
func TestStoppedHolderKeepsLock(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	const timeout = 500 * time.Millisecond
	url := "file://" + t.TempDir() + "?timeout=" + timeout.String()
	ch := startChild(t, "lock", url, "frozen", "L")
	t1 := parseToken(t, ch.expect(t, "ready"))
	if err := ch.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = ch.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // before startChild's kill, which a stopped process would not act on until continued
	c := open(t, url, "parent")
	l := c.Lock("L")
	// Six liveness timeouts: a lease would have expired long ago.
	wctx, cancel := context.WithTimeout(ctx, 6*timeout)
	err := l.Acquire(wctx)
	cancel()
	if !errors.Is(err, tooz.ErrNotAcquired) {
		t.Fatalf("Acquire while the holder is frozen = %v, want ErrNotAcquired", err)
	}
	res := tooz.Resource{Kind: tooz.KindLock, Name: "L"}
	if id, err := c.Driver().Owner(ctx, res); err != nil || id != "frozen" {
		t.Fatalf("Owner while frozen = %q, %v; want the frozen holder", id, err)
	}
	// Resumed, the holder finds its liveness lapsed: its Lock reports
	// Lost() and it gives the flock up, without being told to.
	resume()
	began := time.Now()
	if err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("lock taken %v after the frozen holder was resumed", time.Since(began).Round(time.Millisecond))
	if l.FencingToken() <= t1 {
		t.Errorf("token %d not above the frozen holder's %d", l.FencingToken(), t1)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
