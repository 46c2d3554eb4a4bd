// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import "context"

// Semaphore is a handle on a distributed counting semaphore: at most its
// number of permits are held at any instant, by handles on any
// coordinators. Permits are handed out first come, first served, and a
// waiter is woken only when a permit it waits for is freed. Like a Lock's,
// a permit is tied to its coordinator's liveness: Close frees it at once,
// a crash within the liveness timeout, and Lost closes before anyone else
// can be given it. A handle holds at most one permit at a time; its
// methods are safe for concurrent use.
//
// Every holder of a semaphore must agree on its number of permits: an
// Acquire with another number than the contenders already queued fails
// with ErrLimitMismatch.
type Semaphore struct {
	p     permits
	limit int
}

// Semaphore returns a handle on the semaphore called name with n permits.
// Nothing is sent to the backend until Acquire or TryAcquire; a bad name
// (ErrInvalidID) or n (ErrInvalidLimit: below 1 or above MaxPermits) is
// reported there, before any I/O. Semaphores have a key space of their
// own, apart from locks and read/write locks.
func (c *Coordinator) Semaphore(name string, n int) *Semaphore {
	return &Semaphore{p: permits{c: c, kind: KindSemaphore, name: name, what: "semaphore"}, limit: n}
}

// Name returns the semaphore's name.
func (s *Semaphore) Name() string { return s.p.name }

// Limit returns the semaphore's number of permits, as given to Coordinator.Semaphore.
func (s *Semaphore) Limit() int { return s.limit }

// Acquire waits until this handle holds a permit or ctx ends; then it
// returns an error wrapping ErrNotAcquired (and ctx's error), which is not
// a backend failure. It fails with ErrLockAlreadyHeld when the handle
// holds a permit already.
func (s *Semaphore) Acquire(ctx context.Context) error {
	return s.p.acquire(ctx, Share{Limit: s.limit}, true)
}

// TryAcquire takes a permit if one is free and nobody queues for one
// before it; it never waits. It returns false, nil when all are held.
func (s *Semaphore) TryAcquire(ctx context.Context) (bool, error) {
	return s.p.try(ctx, Share{Limit: s.limit})
}

// Release gives the permit back. It returns an error wrapping
// ErrLockNotHeld when this handle holds none (never acquired, released
// already, or lost). Release runs on ctx while it is live, else on a short
// context of its own.
func (s *Semaphore) Release(ctx context.Context) error { return s.p.release(ctx) }

// Lost returns a channel closed when this handle stops holding its
// permit: on Release, when it is lost (liveness expired, revoked) and on
// Close. It is already closed when the handle holds nothing.
func (s *Semaphore) Lost() <-chan struct{} { return s.p.lost() }

// Held reports whether this handle holds a permit as far as the coordinator knows.
func (s *Semaphore) Held() bool { return !isClosed(s.p.lost()) }

// FencingToken returns the token of the permit held, 0 when none. Tokens
// follow the semaphore's queue order: a permit's token is strictly
// greater than that of every permit held before this one was requested,
// and no two permits share one. Up to Limit holders are valid at once, so
// "highest token wins" does not fence a semaphore: a store tells permits
// apart by their tokens (and can refuse one whose release it has seen).
func (s *Semaphore) FencingToken() uint64 { return s.p.token() }

// Err reports why the permit was lost: nil while it is held, after a
// Release and before any Acquire; an error wrapping ErrSessionLost once
// Lost closed because the liveness expired or the backend dropped it.
func (s *Semaphore) Err() error { return s.p.err() }

// Holders returns the member IDs of the semaphore's current holders,
// oldest first (a member holding several permits is listed once per permit).
func (s *Semaphore) Holders(ctx context.Context) ([]string, error) { return s.p.holders(ctx) }
