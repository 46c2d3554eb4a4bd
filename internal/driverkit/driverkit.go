// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package driverkit holds what every tooz driver needs besides its
// backend's client: waiting that honours a context, random IDs, a
// doubling backoff, and the bound on cleanup work. It is internal until
// its API has settled; third-party drivers will get it exported.
package driverkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// CleanupTimeout bounds cleanup (release, resign, leave, delete) run on a
// context of its own, so that it neither hangs forever nor inherits a
// caller's context that may already have ended.
const CleanupTimeout = 5 * time.Second

// CleanupContext returns a context for cleanup: parent's values and
// deadline while parent is live (bounded by CleanupTimeout when it has no
// deadline), otherwise parent's values with a fresh CleanupTimeout, so that
// cleanup never runs on an already-cancelled context. Cleanup of the
// driver's own (a release after a loss, a retried delete) passes
// context.Background().
func CleanupContext(parent context.Context) (context.Context, context.CancelFunc) {
	if parent.Err() == nil {
		if _, ok := parent.Deadline(); ok {
			return context.WithCancel(parent)
		}
		return context.WithTimeout(parent, CleanupTimeout)
	}
	return context.WithTimeout(context.WithoutCancel(parent), CleanupTimeout)
}

// Sleep waits for d or until ctx ends, reporting whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// NewID returns 32 random hex digits, for session IDs, tokens and
// contender names.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b[:])
}

// Backoff is a delay that doubles from Min up to Max on every Next, and
// starts again at Min after Reset. The zero Backoff is not usable: set Min
// and Max.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the delay to wait now and doubles the next one.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(2*b.cur, b.Max)
	}
	return b.cur
}

// Current returns the delay Next returned last, 0 after Reset: whether
// (and how long) the caller is backing off.
func (b *Backoff) Current() time.Duration { return b.cur }

// Reset makes the next delay Min again.
func (b *Backoff) Reset() { b.cur = 0 }

// Wait sleeps for Next() or until ctx ends, reporting whether the delay passed.
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Margin is how much sooner than the backend a holder takes a liveness or
// an ownership as gone: a tenth of its time to live d, and at least the
// allowance Redlock makes for the local clock running slower than the
// server's (1% of d plus 2 ms). The core's liveness deadline and every
// driver's local ownership deadline use this one rule, so that Lost()
// closes at the same point of a TTL on every backend.
func Margin(d time.Duration) time.Duration { return max(d/10, d/100+2*time.Millisecond) }

// ValidUntil is when something renewed for d by a request that started at
// start must be taken as gone: d after start, less Margin(d). Timing from
// the request's start, not its answer, keeps the backend's own expiry,
// counted from some moment in between, after it.
func ValidUntil(start time.Time, d time.Duration) time.Time { return start.Add(d - Margin(d)) }
