// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// closedChan is returned by Lost when nothing is held.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// holding is one live Ownership as the Coordinator tracks it: its Lost
// channel closes when the driver reports the ownership lost, when the
// coordinator's own liveness deadline passes, on Release, and on Close.
type holding struct {
	c     *Coordinator
	res   Resource
	since time.Time // when it was acquired
	own   Ownership
	lost  chan struct{}
	once  sync.Once
	err   error // why it ended; nil for a release
	onEnd func(err error)
	// unfollow stops what ends the holding on a loss (follow); guarded by c.mu.
	unfollow func() bool
	// epoch is the liveness epoch it was taken in: done once that ended.
	epoch context.Context
	// releasing is set before a voluntary Release, so that the driver
	// closing Lost on release is not taken for a loss.
	releasing atomic.Bool
}

// hold starts tracking own, which the driver acquired in the liveness
// epoch began (taken before the acquisition started). onEnd, if set, runs
// once when the holding ends. When that epoch has ended, or the liveness
// deadline has passed, meanwhile, the ownership was won by a session this
// member can no longer vouch for: hold gives it up and fails with
// ErrSessionLost rather than report a holding that the backend may expire
// at any moment.
func (c *Coordinator) hold(res Resource, own Ownership, onEnd func(error), began context.Context) (*holding, error) {
	epoch, live := c.live.now()
	h := &holding{c: c, res: res, since: time.Now(), own: own, lost: make(chan struct{}), onEnd: onEnd, epoch: epoch}
	if began.Err() != nil {
		live = false
	}
	if !live {
		cctx, cancel := cleanupContext(context.Background())
		defer cancel()
		_ = own.Release(cctx)
		return nil, fmt.Errorf("%w: no successful heartbeat within %v while acquiring", ErrSessionLost, c.timeout)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cctx, cancel := cleanupContext(context.Background())
		defer cancel()
		_ = own.Release(cctx)
		return nil, ErrClosed
	}
	c.holdings[h] = struct{}{}
	c.mu.Unlock()
	c.follow(h)
	if epoch.Err() != nil {
		// The epoch ended after the check above, and expireHoldings may
		// have run before h was in c.holdings.
		c.expire(h)
	}
	return h, nil
}

// follow ends h when the driver reports its ownership lost. It costs no
// goroutine while h lasts when the ownership is a LostNotifier (the
// drivers of this module all are): the callback runs counted in c.wg, so
// that Close waits for it. (The end of the liveness epoch ends every
// holding through expireHoldings.)
func (c *Coordinator) follow(h *holding) {
	var stop func() bool
	if n, ok := h.own.(LostNotifier); ok {
		stop = n.OnLost(h.driverLost)
	} else {
		done := make(chan struct{})
		stop = sync.OnceValue(func() bool { close(done); return true })
		if c.enter() {
			go func() {
				defer c.wg.Done()
				select {
				case <-h.own.Lost():
					h.lostByDriver()
				case <-done:
				}
			}()
		}
	}
	c.mu.Lock()
	h.unfollow = stop
	ended := isClosed(h.lost)
	c.mu.Unlock()
	if ended {
		stop()
	}
}

// driverLost is h's OnLost callback: the driver ended the ownership.
func (h *holding) driverLost() { h.c.counted(h.lostByDriver) }

// stopFollowing stops what follow set up; h.end then has nothing to stop.
func (h *holding) stopFollowing() {
	h.c.mu.Lock()
	stop := h.unfollow
	h.unfollow = nil
	h.c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (h *holding) lostByDriver() {
	if h.releasing.Load() {
		return // release ends the holding itself
	}
	h.end(fmt.Errorf("%w: %w", ErrSessionLost, errRevoked), false)
}

// expireHoldings ends the holdings of the liveness epoch that ended (no
// successful heartbeat within the timeout); one taken in a later epoch (a
// beat renewed the liveness meanwhile) stands.
func (c *Coordinator) expireHoldings() {
	c.mu.Lock()
	var hs []*holding
	for h := range c.holdings {
		if h.epoch.Err() != nil {
			hs = append(hs, h)
		}
	}
	c.mu.Unlock()
	for _, h := range hs {
		c.expire(h)
	}
}

// expire ends h for the end of its liveness epoch. Our liveness may still
// stand on the backend: the ownership is given up (on a goroutine of its
// own, as the backend is likely slow to answer now) so that nobody waits
// for a holder that has been told it lost.
func (c *Coordinator) expire(h *holding) {
	if !c.enter() {
		return // Close ends every holding itself
	}
	go func() {
		defer c.wg.Done()
		h.end(fmt.Errorf("%w: no successful heartbeat within %v", ErrSessionLost, c.timeout), true)
	}()
}

// counted runs f counted in c.wg, or not at all once the coordinator is
// closed (Close ends every holding itself).
func (c *Coordinator) counted(f func()) {
	if !c.enter() {
		return
	}
	defer c.wg.Done()
	f()
}

// enter counts a goroutine of the coordinator's in c.wg, so that Close
// waits for it, and reports true; once the coordinator is closed it counts
// nothing and reports false. A true enter is followed by one c.wg.Done.
func (c *Coordinator) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

// end finishes the holding once. With release it also gives the ownership
// up on the backend, on a cleanup context of its own.
func (h *holding) end(err error, release bool) {
	h.once.Do(func() {
		h.err = err
		close(h.lost)
		h.c.mu.Lock()
		delete(h.c.holdings, h)
		closed := h.c.closed
		unfollow := h.unfollow
		h.c.mu.Unlock()
		if unfollow != nil {
			unfollow()
		}
		h.c.obs.HoldingEnded(HoldingEnd{Kind: kindName(h.res.Kind), Target: h.res.Name, Backend: h.c.scheme,
			Held: time.Since(h.since), Cause: endCause(err, closed)})
		if release {
			ctx, cancel := cleanupContext(context.Background())
			err := h.own.Release(ctx)
			cancel()
			if err != nil && !errors.Is(err, ErrLockNotHeld) {
				h.c.retryRelease(h.own, err)
			}
		}
		if h.onEnd != nil {
			h.onEnd(err)
		}
	})
}

// retryRelease keeps trying to give own up after a release that failed
// (typically: the backend was unreachable when the liveness deadline
// passed, or a refused call), once after each later successful heartbeat,
// until the backend no longer records it (ErrLockNotHeld), or the coordinator
// shuts down (closing the driver ends it anyway). Without it a session
// that outlived the outage on the backend would keep the ownership, and
// everybody waiting for it, forever.
func (c *Coordinator) retryRelease(own Ownership, err error) {
	if !c.enter() {
		return
	}
	c.log.Warn("tooz: giving up an ownership failed; retrying after the next heartbeat", "err", err)
	go func() {
		defer c.wg.Done()
		for {
			next, stopped := c.live.nextRenewal()
			if stopped {
				return
			}
			// Not own.Lost: a driver's Release may end the ownership
			// before its request fails, and a Release called again must
			// then still try (a driver that gave up on the key itself
			// reports ErrLockNotHeld, which ends this).
			<-next
			if _, stopped := c.live.nextRenewal(); stopped {
				return
			}
			ctx, cancel := cleanupContext(context.Background())
			err := own.Release(ctx)
			cancel()
			if err == nil || errors.Is(err, ErrLockNotHeld) {
				return
			}
		}
	}()
}

// release gives the ownership up. It reports ErrLockNotHeld when the
// holding had already ended.
func (h *holding) release(ctx context.Context) error {
	select {
	case <-h.lost:
		if h.err != nil {
			return fmt.Errorf("%w: %w", ErrLockNotHeld, h.err)
		}
		return ErrLockNotHeld
	default:
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	h.releasing.Store(true)
	// The release ends h itself, whatever the driver reports meanwhile
	// (lostByDriver ignores a holding being released): stop following
	// first, so that the ownership's end does not start a goroutine to
	// say so.
	h.stopFollowing()
	err := h.own.Release(cctx)
	if errors.Is(err, ErrLockNotHeld) {
		// The backend had already dropped us: that was a loss, not a
		// release, whatever raced to report it first.
		h.end(fmt.Errorf("%w: %w (found at release)", ErrSessionLost, errRevoked), false)
		return err
	}
	h.end(nil, false)
	if err != nil {
		// The backend may still record the ownership (a lost connection,
		// an API server that refused the call while it restarted), and a
		// live session would then keep it, and everybody waiting for it,
		// for good.
		h.c.retryRelease(h.own, err)
	}
	return err
}

// lostChan is h's Lost channel; already closed for no holding (h nil).
func (h *holding) lostChan() <-chan struct{} {
	if h == nil {
		return closedChan
	}
	return h.lost
}

// token is the fencing token of a live holding, 0 for none or an ended one.
func (h *holding) token() uint64 {
	if h == nil || isClosed(h.lost) {
		return 0
	}
	return h.own.FencingToken()
}

// reason is why h ended: nil for no holding, a live one or a release.
func (h *holding) reason() error {
	if h == nil || !isClosed(h.lost) {
		return nil
	}
	return h.err
}

// acquireHolding is every acquisition's loop (locks, permits, leaderships):
// it waits for the liveness to stand, asks the driver with grab, and
// tracks what it grants (onEnd as for hold). A grant the liveness can no
// longer vouch for is given back and, for a waiting acquisition whose
// heart can renew the liveness, contended for again.
func (c *Coordinator) acquireHolding(ctx context.Context, res Resource, wait bool, onEnd func(error), grab func(context.Context) (Ownership, error)) (_ *holding, err error) {
	name := "acquire"
	if res.Kind == KindElection {
		name = "campaign"
	}
	ctx, end := c.begin(ctx, name, res, wait)
	defer func() { end(err) }()
	for {
		began, err := c.awaitLiveness(ctx, wait)
		if err != nil {
			return nil, err
		}
		own, err := grab(ctx)
		if err != nil {
			return nil, notAcquired(ctx, err)
		}
		h, err := c.hold(res, own, onEnd, began)
		if err != nil {
			if c.retryAcquire(ctx, wait, err) {
				continue
			}
			return nil, err
		}
		return h, nil
	}
}

// tried turns the error of an acquisition that did not wait into
// TryAcquire's answer: false, nil when another holder has it.
func tried(ctx context.Context, err error) (bool, error) {
	if errors.Is(err, ErrNotAcquired) && ctx.Err() == nil {
		return false, nil
	}
	return err == nil, err
}

// endLostHoldings ends the holdings whose driver ownership has ended (its
// Lost channel is closed), with err as the reason.
func (c *Coordinator) endLostHoldings(err error) {
	c.mu.Lock()
	var hs []*holding
	for h := range c.holdings {
		if isClosed(h.own.Lost()) && !h.releasing.Load() {
			hs = append(hs, h)
		}
	}
	c.mu.Unlock()
	for _, h := range hs {
		h.end(err, false)
	}
}

// endHoldings ends every holding, as on Close (err nil: already released
// by the driver's Close) or on a lost session.
func (c *Coordinator) endHoldings(err error) {
	c.mu.Lock()
	hs := slices.Collect(maps.Keys(c.holdings))
	c.mu.Unlock()
	for _, h := range hs {
		h.end(err, false)
	}
}

// LockOption configures a Lock.
type LockOption func(*Lock)

// WithLockTTL sets how long the lock outlives its holder's last renewal on
// drivers that keep a lock TTL apart from the member liveness timeout. It is
// never the time Acquire waits: that is the context's deadline.
func WithLockTTL(d time.Duration) LockOption { return func(l *Lock) { l.p.ttl = d } }

// Lock is a handle on a distributed lock. Locks are not re-entrant: two
// handles for one name exclude each other even on one coordinator. A
// handle holds the lock at most once at a time; its methods are safe for
// concurrent use.
type Lock struct {
	p permits // of kind KindLock: taken with the driver's Acquire
}

// Lock returns a handle on the lock called name. Nothing is sent to the
// backend until Acquire or TryAcquire; a bad name is reported there.
func (c *Coordinator) Lock(name string, opts ...LockOption) *Lock {
	l := &Lock{p: permits{c: c, kind: KindLock, name: name, what: "lock"}}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Name returns the lock's name.
func (l *Lock) Name() string { return l.p.name }

// exclusive is a lock's share: it holds alone.
var exclusive = Share{Exclusive: true}

// Acquire waits until this handle holds the lock or ctx ends. When ctx
// ends first it returns an error wrapping ErrNotAcquired (and ctx's error),
// which is not a backend failure. The ctx deadline is the wait; the lock's
// lifetime is the member's liveness (see WithLockTTL).
func (l *Lock) Acquire(ctx context.Context) error {
	return l.p.acquire(ctx, exclusive, true)
}

// TryAcquire takes the lock if it is free and never waits for it. It
// returns false, nil when another holder has it.
func (l *Lock) TryAcquire(ctx context.Context) (bool, error) {
	return l.p.try(ctx, exclusive)
}

// awaitLiveness returns the current liveness epoch once the liveness
// stands, so that an acquisition started now can be checked by hold. When
// it has lapsed (no successful heartbeat within the timeout), a waiting
// acquisition waits for the heart's next successful beat (or ctx); a try,
// or a coordinator without its heart (whose owner beats by hand), fails at
// once with ErrSessionLost instead of making the backend grant something
// this member could not vouch for.
func (c *Coordinator) awaitLiveness(ctx context.Context, wait bool) (context.Context, error) {
	for {
		epoch, live := c.live.now()
		if live {
			return epoch, nil
		}
		if !wait || c.heart == nil {
			return nil, fmt.Errorf("%w: no successful heartbeat within %v", ErrSessionLost, c.timeout)
		}
		if err := c.live.waitLive(ctx); err != nil {
			return nil, notAcquired(ctx, err)
		}
	}
}

// retryAcquire reports whether a waiting acquisition whose grant hold
// refused (the liveness lapsed while it waited) should wait for the
// liveness and contend again: yes when it may wait, its context still
// runs, and the heart is there to renew the liveness.
func (c *Coordinator) retryAcquire(ctx context.Context, wait bool, err error) bool {
	return wait && c.heart != nil && ctx.Err() == nil && errors.Is(err, ErrSessionLost)
}

// notAcquired maps a context ending while waiting to ErrNotAcquired.
func notAcquired(ctx context.Context, err error) error {
	if errors.Is(err, ErrNotAcquired) {
		return err
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return fmt.Errorf("%w: %w", ErrNotAcquired, ctx.Err())
	}
	return err
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Release gives the lock up. It returns an error wrapping ErrLockNotHeld
// when this handle does not hold the lock (never acquired, released
// already, or lost); nothing else is freed. Release runs on ctx while it is
// live, else on a short context of its own.
func (l *Lock) Release(ctx context.Context) error { return l.p.release(ctx) }

// Lost returns a channel that is closed when this handle stops holding the
// lock: on Release, when the lock is lost (liveness expired, revoked), and
// on Close. It is already closed when the handle holds nothing.
func (l *Lock) Lost() <-chan struct{} { return l.p.lost() }

// Held reports whether this handle holds the lock as far as the coordinator knows.
func (l *Lock) Held() bool { return !isClosed(l.Lost()) }

// FencingToken returns the token of the current holding: it is strictly
// greater than that of every earlier holder of this lock name, so a store
// that rejects writes carrying a lower token than it has seen is safe from
// stale holders. It is 0 when the handle holds nothing.
func (l *Lock) FencingToken() uint64 { return l.p.token() }

// Err reports why the lock was lost: nil while it is held, after a Release
// and before any Acquire; an error wrapping ErrSessionLost once Lost closed
// because the liveness expired or the backend dropped the ownership.
func (l *Lock) Err() error { return l.p.err() }

// Owner returns the member ID holding the lock, whoever it is, or an
// error wrapping ErrNoOwner when nobody holds it (such an error also
// satisfies errors.Is(err, ErrNoLeader), for code written before
// ErrNoOwner).
func (l *Lock) Owner(ctx context.Context) (string, error) {
	const op = "lock owner"
	name := l.p.name
	if err := validate(op, "", "", name, name); err != nil {
		return "", err
	}
	if err := l.p.c.check(); err != nil {
		return "", wrap(err, op, "", "", name)
	}
	id, err := l.p.c.drv.Owner(ctx, Resource{Kind: KindLock, Name: name})
	return id, wrap(lockOwnerError(err), op, "", "", name)
}
