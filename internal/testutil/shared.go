// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/toozgo/tooz"
)

// CheckForeignIgnored checks, after a test forged foreign or corrupt
// entries in the key spaces of the semaphore and of the read/write lock
// called name, that c still gets the semaphore's single permit and the
// lock exclusively (the entries are not counted as holders), that
// Holders lists c alone, and that logs holds logged (when not empty).
func CheckForeignIgnored(t testing.TB, ctx context.Context, c *tooz.Coordinator, name string, logs *LogBuffer, logged string) {
	t.Helper()
	s := c.Semaphore(name, 1)
	if ok, err := s.TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("TryAcquire of a one-permit semaphore beside foreign entries = %v, %v; want true", ok, err)
	}
	if hs, err := s.Holders(ctx); err != nil || !slices.Equal(hs, []string{c.MemberID()}) {
		t.Fatalf("semaphore holders = %q, %v; want only %q", hs, err, c.MemberID())
	}
	l := c.RWLock(name)
	if ok, err := l.TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("exclusive TryAcquire beside foreign entries = %v, %v; want true", ok, err)
	}
	if hs, err := l.Holders(ctx); err != nil || !slices.Equal(hs, []string{c.MemberID()}) {
		t.Fatalf("read/write lock holders = %q, %v; want only %q", hs, err, c.MemberID())
	}
	Must(t, s.Release(ctx), "release the permit")
	Must(t, l.Release(ctx), "release the lock")
	if logged != "" && (logs == nil || !strings.Contains(logs.String(), logged)) {
		t.Fatalf("no log line %q about the foreign entries; logs:\n%s", logged, logs.String())
	}
}
