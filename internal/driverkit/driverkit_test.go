// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package driverkit

import (
	"context"
	"testing"
	"time"
)

func TestBackoffDoublesUpToMaxAndResets(t *testing.T) {
	b := Backoff{Min: 10 * time.Millisecond, Max: 35 * time.Millisecond}
	if b.Current() != 0 {
		t.Fatalf("Current before Next = %v, want 0", b.Current())
	}
	want := []time.Duration{10, 20, 35, 35}
	for i, w := range want {
		if got := b.Next(); got != w*time.Millisecond {
			t.Fatalf("Next #%d = %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if b.Current() != 35*time.Millisecond {
		t.Fatalf("Current = %v, want 35ms", b.Current())
	}
	b.Reset()
	if b.Current() != 0 || b.Next() != 10*time.Millisecond {
		t.Fatal("Reset did not start over at Min")
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep reported the hour passed on a cancelled context")
	}
	if !Sleep(context.Background(), time.Microsecond) {
		t.Fatal("Sleep of 1µs reported cancelled")
	}
}

func TestNewIDIsFreshHex(t *testing.T) {
	a, b := NewID(), NewID()
	if len(a) != 32 || a == b {
		t.Fatalf("NewID: %q and %q", a, b)
	}
	for _, r := range a {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			t.Fatalf("NewID %q is not lower-case hex", a)
		}
	}
}

type key struct{}

func TestCleanupContextOutlivesItsParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	cancel()
	ctx, done := CleanupContext(parent)
	defer done()
	if ctx.Err() != nil {
		t.Fatalf("cleanup context ended with its parent: %v", ctx.Err())
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > CleanupTimeout {
		t.Fatalf("deadline %v %v, want within %v", dl, ok, CleanupTimeout)
	}
	if ctx.Value(key{}) != "v" {
		t.Fatal("cleanup context lost its parent's values")
	}
}

func TestCleanupContextKeepsALiveParentsDeadline(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx, done := CleanupContext(parent)
	defer done()
	want, _ := parent.Deadline()
	if dl, ok := ctx.Deadline(); !ok || !dl.Equal(want) {
		t.Fatalf("deadline %v %v, want the parent's %v", dl, ok, want)
	}
}

func TestMargin(t *testing.T) {
	for _, tc := range []struct{ d, want time.Duration }{
		{10 * time.Second, time.Second},                  // a tenth
		{10 * time.Millisecond, 2100 * time.Microsecond}, // Redlock's 1% + 2ms is more
	} {
		if got := Margin(tc.d); got != tc.want {
			t.Errorf("Margin(%v) = %v, want %v", tc.d, got, tc.want)
		}
	}
	start := time.Unix(100, 0)
	if got, want := ValidUntil(start, 2*time.Second), start.Add(1800*time.Millisecond); !got.Equal(want) {
		t.Errorf("ValidUntil = %v, want %v", got, want)
	}
}
