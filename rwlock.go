// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import "context"

// RWLock is a handle on a distributed read/write lock: any number of
// shared holders or one exclusive holder at any instant. Contenders queue
// first in first out (see Share.Holds): a shared contender that comes
// after a waiting exclusive one waits behind it, so a stream of readers
// never starves a writer; when the exclusive holder releases, every
// shared contender queued before the next exclusive one gets the lock
// together. Holdings are tied to the coordinator's liveness like a Lock's.
//
// A handle holds the lock once at a time, shared or exclusive. Shared
// acquisitions on a handle that holds it shared are counted, as in
// OpenStack tooz: each needs its Release, and the last one frees it. Two
// handles are two contenders, even on one coordinator. Read/write locks
// have a key space of their own: the read/write lock "x" and the lock "x"
// are unrelated. Its methods are safe for concurrent use.
type RWLock struct {
	p permits
}

// RWLock returns a handle on the read/write lock called name. Nothing is
// sent to the backend until an acquisition; a bad name is reported there.
func (c *Coordinator) RWLock(name string) *RWLock {
	return &RWLock{p: permits{c: c, kind: KindRWLock, name: name, what: "read/write lock"}}
}

// Name returns the lock's name.
func (l *RWLock) Name() string { return l.p.name }

// Acquire waits until this handle holds the lock exclusively or ctx ends
// (then the error wraps ErrNotAcquired). It fails with ErrLockAlreadyHeld
// when the handle holds the lock in either mode.
func (l *RWLock) Acquire(ctx context.Context) error {
	return l.p.acquire(ctx, Share{Exclusive: true}, true)
}

// TryAcquire takes the lock exclusively if nobody holds it or queues for
// it; it never waits. It returns false, nil when it is not free.
func (l *RWLock) TryAcquire(ctx context.Context) (bool, error) {
	return l.p.try(ctx, Share{Exclusive: true})
}

// AcquireShared waits until this handle holds the lock shared or ctx ends
// (then the error wraps ErrNotAcquired). On a handle that holds it shared
// already it only counts one more acquisition; on one that holds it
// exclusively it fails with ErrLockAlreadyHeld.
func (l *RWLock) AcquireShared(ctx context.Context) error {
	return l.p.acquire(ctx, Share{}, true)
}

// TryAcquireShared takes the lock shared unless an exclusive contender
// holds it or queues for it; it never waits. It returns false, nil then.
func (l *RWLock) TryAcquireShared(ctx context.Context) (bool, error) {
	return l.p.try(ctx, Share{})
}

// Release gives back one acquisition: the exclusive one, or one of the
// shared ones (the last frees the lock). It returns an error wrapping
// ErrLockNotHeld when the handle holds nothing. Release runs on ctx while
// it is live, else on a short context of its own.
func (l *RWLock) Release(ctx context.Context) error { return l.p.release(ctx) }

// Lost returns a channel closed when this handle stops holding the lock:
// on its last Release, when it is lost (liveness expired, revoked) and on
// Close. It is already closed when the handle holds nothing.
func (l *RWLock) Lost() <-chan struct{} { return l.p.lost() }

// Held reports whether this handle holds the lock, in either mode, as far
// as the coordinator knows.
func (l *RWLock) Held() bool { return !isClosed(l.p.lost()) }

// Shared reports whether this handle holds the lock shared.
func (l *RWLock) Shared() bool {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	return l.p.h != nil && !isClosed(l.p.h.lost) && !l.p.share.Exclusive
}

// FencingToken returns the token of the current holding, 0 when none.
// Tokens follow the queue order. An exclusive holder's token is strictly
// greater than that of every earlier holder, shared or exclusive, so a
// store that refuses writes carrying a lower token than it has seen is
// safe from a stale writer. A shared holder's token is strictly greater
// than that of every earlier exclusive holder (and unique): a store that
// also records the tokens of reads refuses a stale writer whose lock was
// taken over by readers.
func (l *RWLock) FencingToken() uint64 { return l.p.token() }

// Err reports why the lock was lost: nil while it is held, after a
// Release and before any acquisition; an error wrapping ErrSessionLost
// once Lost closed because the liveness expired or the backend dropped it.
func (l *RWLock) Err() error { return l.p.err() }

// Holders returns the member IDs of the lock's current holders, oldest
// first: one exclusive holder, or the shared ones.
func (l *RWLock) Holders(ctx context.Context) ([]string, error) { return l.p.holders(ctx) }
