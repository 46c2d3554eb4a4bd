// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The resource kinds of semaphores and read/write locks. Each has a key
// space of its own: a semaphore "x", a read/write lock "x" and a lock "x"
// are unrelated.
const (
	KindSemaphore ResourceKind = iota + 3 // a semaphore taken with Coordinator.Semaphore
	KindRWLock                            // a read/write lock taken with Coordinator.RWLock
)

// MaxPermits is the largest number of permits a semaphore may have.
const MaxPermits = 4096

var (
	// ErrInvalidLimit reports a semaphore size below 1 or above
	// MaxPermits. It is returned before any I/O.
	ErrInvalidLimit = errors.New("invalid semaphore size")
	// ErrLimitMismatch reports an Acquire of a semaphore whose current
	// contenders were given another number of permits: all holders of a
	// semaphore must agree on it. Nothing is held or queued when it is
	// returned.
	ErrLimitMismatch = errors.New("semaphore size mismatch")
)

// Share says how a contender holds a semaphore or a read/write lock.
type Share struct {
	// Limit is a semaphore's number of permits (1..MaxPermits); 0 for a
	// read/write lock, whose shared holders are not counted.
	Limit int
	// Exclusive marks a read/write lock's exclusive contender.
	Exclusive bool
}

// Holds is the one queueing rule of semaphores and read/write locks, the
// same on every driver. Contenders queue first in first out; a contender
// with share s, behind the contenders ahead (oldest first; foreign and
// corrupt entries left out), holds when:
//
//   - s is exclusive and nobody is ahead;
//   - s is shared, nobody ahead is exclusive, and (for a semaphore) fewer
//     than s.Limit are ahead.
//
// So a waiting exclusive contender is never overtaken by shared ones that
// came after it: it is not starved by a stream of readers.
func (s Share) Holds(ahead []Share) bool {
	if s.Exclusive {
		return len(ahead) == 0
	}
	if s.Limit > 0 && len(ahead) >= s.Limit {
		return false
	}
	for _, a := range ahead {
		if a.Exclusive {
			return false
		}
	}
	return true
}

// Agrees reports, with an error wrapping ErrLimitMismatch, a contender
// with share s whose oldest contender ahead (ahead[0]) has another
// semaphore size: the oldest contender decides the size, and a contender
// that disagrees withdraws. (A disagreeing contender further back, about
// to withdraw, makes nobody else fail.)
func (s Share) Agrees(ahead []Share) error {
	if len(ahead) > 0 && ahead[0].Limit != s.Limit {
		return fmt.Errorf("%w: asked for %d permits, but the semaphore's oldest contender uses %d", ErrLimitMismatch, s.Limit, ahead[0].Limit)
	}
	return nil
}

// SharedAcquirer is the optional driver interface behind semaphores and
// read/write locks: drivers without it report ErrNotSupported for them.
//
// AcquireShared queues a contender with share sh for res (of kind
// KindSemaphore or KindRWLock) and follows Share.Holds: each call is a
// contender of its own, tied to the coordinator's liveness like
// Acquire's. A contender whose queue already holds an older one with
// another Limit withdraws and fails with an error wrapping
// ErrLimitMismatch. With wait false it fails with ErrNotAcquired at once
// (having withdrawn) when it does not hold; with wait true it waits, each
// waiter woken only when a contender it depends on goes, until it holds or
// ctx ends (it then withdraws and returns ctx's error). FencingToken of the
// ownership is strictly greater than that of every contender that held
// res before it queued, and ordered like the queue.
//
// Holders lists the member IDs of res's current holders, oldest first
// (empty when none). Entries the driver cannot decode are ignored, with a
// log line, by both.
type SharedAcquirer interface {
	AcquireShared(ctx context.Context, res Resource, sh Share, wait bool) (Ownership, error)
	Holders(ctx context.Context, res Resource) ([]string, error)
}

// permits is the part of Lock, Semaphore and RWLock that holds: one
// holding at a time, re-entered by shared acquisitions of an RWLock. A
// lock (KindLock) is taken with the driver's Acquire, the others through
// its SharedAcquirer.
type permits struct {
	c    *Coordinator
	kind ResourceKind
	name string
	what string        // "lock", "semaphore" or "read/write lock", for errors
	ttl  time.Duration // a lock's TTL (WithLockTTL)

	mu        sync.Mutex
	acquiring bool
	h         *holding
	share     Share // of h
	count     int   // shared acquisitions of h not yet released
}

func (p *permits) res() Resource { return Resource{Kind: p.kind, Name: p.name, TTL: p.ttl} }

// wrap names the semaphore or read/write lock in the operation ("acquire
// semaphore "jobs""), so that messages do not call it a lock; Error.Lock
// stays empty.
func (p *permits) wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	if p.kind == KindLock {
		return wrap(err, op, "", "", p.name)
	}
	return wrap(err, fmt.Sprintf("%s %s %q", op, p.what, p.name), "", "", "")
}

// acquire takes a holding with share sh. A shared RWLock handle that holds
// shared already just counts one more acquisition (reentrant tries to
// exclusive and semaphore holdings fail with ErrLockAlreadyHeld).
func (p *permits) acquire(ctx context.Context, sh Share, wait bool) error {
	const op = "acquire"
	if err := ValidateID(p.name); err != nil {
		return p.wrap(err, op)
	}
	if p.kind == KindSemaphore && (sh.Limit < 1 || sh.Limit > MaxPermits) {
		return p.wrap(fmt.Errorf("%w: %d permits; want 1 to %d", ErrInvalidLimit, sh.Limit, MaxPermits), op)
	}
	grab := func(ctx context.Context) (Ownership, error) { return p.c.drv.Acquire(ctx, p.res(), wait) }
	if p.kind != KindLock {
		sa, ok := p.c.drv.(SharedAcquirer)
		if !ok {
			return p.wrap(fmt.Errorf("%w: the %s driver has no %ss", ErrNotSupported, p.c.scheme, p.what), op)
		}
		grab = func(ctx context.Context) (Ownership, error) { return sa.AcquireShared(ctx, p.res(), sh, wait) }
	}
	if err := p.c.check(); err != nil {
		return p.wrap(err, op)
	}
	p.mu.Lock()
	if p.acquiring {
		p.mu.Unlock()
		return p.wrap(ErrLockAlreadyHeld, op)
	}
	if p.h != nil && !isClosed(p.h.lost) {
		if p.kind == KindRWLock && !sh.Exclusive && !p.share.Exclusive {
			p.count++
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		return p.wrap(ErrLockAlreadyHeld, op)
	}
	p.acquiring = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.acquiring = false
		p.mu.Unlock()
	}()
	h, err := p.c.acquireHolding(ctx, p.res(), wait, nil, grab)
	if err != nil {
		return p.wrap(err, op)
	}
	p.mu.Lock()
	p.h, p.share, p.count = h, sh, 1
	p.mu.Unlock()
	return nil
}

// try is acquire without waiting: false, nil when it is held otherwise.
func (p *permits) try(ctx context.Context, sh Share) (bool, error) {
	return tried(ctx, p.acquire(ctx, sh, false))
}

// release gives one acquisition back; the last one ends the holding.
func (p *permits) release(ctx context.Context) error {
	const op = "release"
	p.mu.Lock()
	h := p.h
	if h != nil && !isClosed(h.lost) && p.count > 1 {
		p.count--
		p.mu.Unlock()
		return nil
	}
	p.count = 0
	p.mu.Unlock()
	if h == nil {
		return p.wrap(ErrLockNotHeld, op)
	}
	return p.wrap(h.release(ctx), op)
}

func (p *permits) lost() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h.lostChan()
}

func (p *permits) token() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h.token()
}

func (p *permits) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h.reason()
}

func (p *permits) holders(ctx context.Context) ([]string, error) {
	const op = "list holders of"
	if err := ValidateID(p.name); err != nil {
		return nil, p.wrap(err, op)
	}
	sa, ok := p.c.drv.(SharedAcquirer)
	if !ok {
		return nil, p.wrap(fmt.Errorf("%w: the %s driver has no %ss", ErrNotSupported, p.c.scheme, p.what), op)
	}
	if err := p.c.check(); err != nil {
		return nil, p.wrap(err, op)
	}
	ids, err := sa.Holders(ctx, p.res())
	if err != nil {
		return nil, p.wrap(err, op)
	}
	return ids, nil
}
