// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/toozgo/tooz"
)

var lockTests = []test{
	{"LockTryAcquire", testLockTryAcquire},
	{"LockWaitDeadlineIsNotAcquired", testLockWaitDeadline},
	{"LockWaiterGetsItOnRelease", testLockWaiterGetsIt},
	{"LockReleaseRules", testLockReleaseRules},
	{"LockHandlesOnOneCoordinatorExclude", testLockTwoHandles},
	{"LockMutualExclusionAndFencing", testLockMutualExclusion},
	{"LockFreedAfterCrash", testLockFreedAfterCrash},
	{"LockFreedAtOnceOnClose", testLockFreedOnClose},
	{"LocksHeldCostNoGoroutine", testLocksHeldCostNoGoroutine},
}

// testLocksHeldCostNoGoroutine: a coordinator holding many locks spends
// no goroutine per lock. What follows a holding for its loss (a watch of
// its key, the Coordinator's liveness deadline) is shared, and the
// Coordinator hears of each loss through the ownership's
// tooz.LostNotifier. A driver whose ownerships are not LostNotifiers is
// followed with a goroutine each by design, and the subtest skips it.
// The first 16 locks are taken before counting, so that what a
// coordinator spends once is not counted per lock (on Consul, the queries
// of a session's first 8 holdings).
func testLocksHeldCostNoGoroutine(f *fixture) {
	ctx := f.ctx
	c := f.open(f.name("holder"))
	probe, err := c.Driver().Acquire(ctx, tooz.Resource{Kind: tooz.KindLock, Name: f.name("probe")}, false)
	f.must(err, "acquire through the driver")
	_, notifier := probe.(tooz.LostNotifier)
	f.must(probe.Release(ctx), "release through the driver")
	if !notifier {
		f.Skipf("the driver's ownership %T is no tooz.LostNotifier: the Coordinator follows each with a goroutine", probe)
	}
	var locks []*tooz.Lock
	take := func(i int) {
		l := c.Lock(f.name(fmt.Sprintf("held-%03d", i)))
		f.must(l.Acquire(ctx), "acquire "+l.Name())
		locks = append(locks, l)
	}
	for i := range 16 {
		take(i)
	}
	const n = 100
	before := runtime.NumGoroutine()
	for i := range n {
		take(16 + i)
	}
	// Goroutines of other work (a reply being read, an earlier
	// subtest's winding down) come and go: allow a few, far below one
	// per lock.
	if grown := runtime.NumGoroutine() - before; grown >= n/10 {
		f.Fatalf("holding %d more locks added %d goroutines; want none per lock", n, grown)
	}
	for _, l := range locks {
		if !l.Held() {
			f.Fatalf("%s ended while held", l.Name())
		}
		f.must(l.Release(ctx), "release "+l.Name())
	}
}

func testLockTryAcquire(f *fixture) {
	ctx := f.ctx
	name := f.name("lock")
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	la, lb := a.Lock(name), b.Lock(name)
	if la.Held() || la.FencingToken() != 0 || !closed(la.Lost()) {
		f.Fatal("a fresh handle claims to hold its lock")
	}
	ok, err := la.TryAcquire(ctx)
	if err != nil || !ok {
		f.Fatalf("a: TryAcquire of a free lock = %v, %v", ok, err)
	}
	if !la.Held() || la.FencingToken() == 0 || closed(la.Lost()) {
		f.Fatalf("after acquiring: held=%v token=%d lost=%v", la.Held(), la.FencingToken(), closed(la.Lost()))
	}
	ok, err = lb.TryAcquire(ctx)
	if err != nil || ok {
		f.Fatalf("b: TryAcquire of a held lock = %v, %v; want false, nil", ok, err)
	}
	if id, err := lb.Owner(ctx); err != nil || id != a.MemberID() {
		f.Fatalf("Owner() = %q, %v; want %q", id, err, a.MemberID())
	}
	f.must(la.Release(ctx), "release")
	if !closed(la.Lost()) || la.FencingToken() != 0 || la.Err() != nil {
		f.Fatalf("after Release: lost %v, token %d, err %v", closed(la.Lost()), la.FencingToken(), la.Err())
	}
	if _, err := lb.Owner(ctx); !errors.Is(err, tooz.ErrNoLeader) {
		f.Fatalf("Owner() of a free lock: %v, want ErrNoLeader", err)
	}
	ok, err = lb.TryAcquire(ctx)
	if err != nil || !ok {
		f.Fatalf("b: TryAcquire after release = %v, %v", ok, err)
	}
	f.must(lb.Release(ctx), "release b")
}

func testLockWaitDeadline(f *fixture) {
	name := f.name("lock")
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	c := f.open(f.name("c"))
	la := a.Lock(name)
	f.must(la.Acquire(f.ctx), "a acquires")
	ctx, cancel := context.WithTimeout(f.ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.Lock(name).Acquire(ctx)
	waited := time.Since(start)
	if !errors.Is(err, tooz.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
		f.Fatalf("Acquire past its deadline: %v, want ErrNotAcquired wrapping context.DeadlineExceeded", err)
	}
	if waited < 250*time.Millisecond {
		f.Fatalf("Acquire gave up after %v, before its 300ms deadline", waited)
	}
	if errors.Is(err, tooz.ErrConnection) {
		f.Fatalf("not acquired reported as a backend failure: %v", err)
	}
	// A cancelled context is "not acquired" too.
	cctx, ccancel := context.WithCancel(f.ctx)
	ccancel()
	if err := b.Lock(name).Acquire(cctx); !errors.Is(err, tooz.ErrNotAcquired) {
		f.Fatalf("Acquire with a cancelled context: %v, want ErrNotAcquired", err)
	}
	// The waiter withdrew: once a releases, a third party gets the lock at once.
	f.must(la.Release(f.ctx), "a releases")
	ok, err := c.Lock(name).TryAcquire(f.ctx)
	if err != nil || !ok {
		f.Fatalf("after the waiter gave up and a released, TryAcquire = %v, %v: the waiter did not withdraw", ok, err)
	}
}

func testLockWaiterGetsIt(f *fixture) {
	name := f.name("lock")
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	la, lb := a.Lock(name), b.Lock(name)
	f.must(la.Acquire(f.ctx), "a acquires")
	t1 := la.FencingToken()
	got := make(chan error, 1)
	go func() { got <- lb.Acquire(f.ctx) }()
	select {
	case err := <-got:
		f.Fatalf("b acquired a held lock: %v", err)
	case <-time.After(100 * time.Millisecond): // b is waiting (a check that b did not get it, not synchronization)
	}
	released := time.Now()
	f.must(la.Release(f.ctx), "a releases")
	select {
	case err := <-got:
		f.must(err, "b acquires after release")
	case <-time.After(eventWait):
		f.Fatalf("b still waiting %v after a released", eventWait)
	}
	f.Logf("hand-over took %v", time.Since(released).Round(time.Microsecond))
	if t2 := lb.FencingToken(); t2 <= t1 {
		f.Fatalf("fencing token went from %d to %d", t1, t2)
	}
	f.must(lb.Release(f.ctx), "b releases")
}

func testLockReleaseRules(f *fixture) {
	ctx := f.ctx
	name := f.name("lock")
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	la, lb := a.Lock(name), b.Lock(name)
	f.wantErr(la.Release(ctx), tooz.ErrLockNotHeld, "release of a never-acquired handle")
	f.must(la.Acquire(ctx), "a acquires")
	f.wantErr(lb.Release(ctx), tooz.ErrLockNotHeld, "release by a non-holder")
	ok, err := b.Lock(name).TryAcquire(ctx)
	if err != nil || ok {
		f.Fatalf("a non-holder's release freed the lock: TryAcquire = %v, %v", ok, err)
	}
	if closed(la.Lost()) {
		f.Fatal("a non-holder's release ended the holder's ownership")
	}
	f.must(la.Release(ctx), "a releases")
	f.wantErr(la.Release(ctx), tooz.ErrLockNotHeld, "release twice")
	// Releasing on an already-cancelled context still releases (cleanup
	// runs on a context of its own).
	f.must(la.Acquire(ctx), "a acquires again")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	f.must(la.Release(cctx), "release on a cancelled context")
	ok, err = lb.TryAcquire(ctx)
	if err != nil || !ok {
		f.Fatalf("after a release on a cancelled context, TryAcquire = %v, %v", ok, err)
	}
}

func testLockTwoHandles(f *fixture) {
	ctx := f.ctx
	name := f.name("lock")
	c := f.open(f.name("m"))
	l1, l2 := c.Lock(name), c.Lock(name)
	f.must(l1.Acquire(ctx), "first handle")
	f.wantErr(l1.Acquire(ctx), tooz.ErrLockAlreadyHeld, "acquire twice on one handle")
	ok, err := l2.TryAcquire(ctx)
	if err != nil || ok {
		f.Fatalf("a second handle on the same coordinator got the lock: %v, %v (locks are not re-entrant)", ok, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	f.wantErr(l2.Acquire(wctx), tooz.ErrNotAcquired, "second handle waiting")
	f.must(l1.Release(ctx), "release first")
	f.must(l2.Acquire(ctx), "second handle after release")
	if l2.FencingToken() == 0 {
		f.Fatal("zero fencing token")
	}
	f.must(l2.Release(ctx), "release second")
}

func testLockMutualExclusion(f *fixture) {
	name := f.name("lock")
	var x exclusion
	const coords, handles, rounds = 3, 2, 8
	var cs []contender
	for i := range coords {
		c := f.open(f.name(fmt.Sprintf("c%d", i)))
		for j := range handles {
			who := fmt.Sprintf("c%d/h%d", i, j)
			l := c.Lock(name)
			cs = append(cs, contender{who: who, acquire: l.Acquire, release: l.Release, section: func() {
				x.enter(who, l.FencingToken())
				x.exit(who)
			}})
		}
	}
	f.contend(rounds, cs)
	x.check(f)
	if x.entries != coords*handles*rounds {
		f.Fatalf("%d critical sections, want %d", x.entries, coords*handles*rounds)
	}
}

// contender is one handle of a contention test.
type contender struct {
	who              string
	acquire, release func(context.Context) error
	section          func() // runs while the handle holds
}

// contend has every contender acquire, run its section and release,
// rounds times, all at once, each on a goroutine of its own; an acquire or
// release that fails fails the subtest.
func (f *fixture) contend(rounds int, cs []contender) {
	f.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(cs))
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if err := c.acquire(f.ctx); err != nil {
					errs <- fmt.Errorf("%s acquire: %w", c.who, err)
					return
				}
				c.section()
				if err := c.release(f.ctx); err != nil {
					errs <- fmt.Errorf("%s release: %w", c.who, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		f.Error(err)
	}
}

func testLockFreedAfterCrash(f *fixture) {
	name := f.name("lock")
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	la := a.Lock(name)
	f.must(la.Acquire(f.ctx), "a acquires")
	lb := b.Lock(name)
	f.freedAfterCrash("lock", a, la, lb.Acquire, lb)
}

func testLockFreedOnClose(f *fixture) {
	name := f.name("lock")
	a := f.openUnmanaged(f.name("a"))
	b := f.open(f.name("b"))
	la := a.Lock(name)
	f.must(la.Acquire(f.ctx), "a acquires")
	f.freedOnClose(a, la, b.Lock(name).Acquire)
}

// holder is what the crash and close tests need of a lock, a semaphore or
// a read/write lock handle.
type holder interface {
	Lost() <-chan struct{}
	FencingToken() uint64
	Err() error
}

// freedAfterCrash crashes a, whose handle ha holds, and checks that ha
// reports it lost at once and that b's acquire (of hb) succeeds within the
// expiry bound, with a greater fencing token.
func (f *fixture) freedAfterCrash(what string, a *tooz.Coordinator, ha holder, acquireB func(context.Context) error, hb holder) {
	f.Helper()
	t1 := ha.FencingToken()
	crashed := time.Now()
	f.crash(a)
	if !closed(ha.Lost()) {
		f.Fatalf("a crashed coordinator's handle still claims the %s", what)
	}
	limit := f.bound + slack
	ctx, cancel := context.WithTimeout(f.ctx, limit)
	defer cancel()
	f.must(acquireB(ctx), fmt.Sprintf("b acquires within %v of a's crash", limit))
	f.Logf("%s moved %v after the crash (timeout %v)", what, time.Since(crashed).Round(time.Millisecond), f.h.Timeout())
	if t2 := hb.FencingToken(); t2 <= t1 {
		f.Fatalf("fencing token after the crash %d, not above %d", t2, t1)
	}
}

// freedOnClose checks that closing a, whose handle ha holds, ends ha as a
// release (Lost closed, no error) and lets b's waiting acquire succeed at
// once, not after a timeout.
func (f *fixture) freedOnClose(a *tooz.Coordinator, ha holder, acquireB func(context.Context) error) {
	f.Helper()
	ch := acquireAsync(f.ctx, acquireB)
	f.notYet(ch, "b")
	f.must(a.Close(f.ctx), "a closes")
	if !closed(ha.Lost()) || ha.Err() != nil {
		f.Fatalf("after Close: lost %v, err %v; want lost, no error", closed(ha.Lost()), ha.Err())
	}
	select {
	case err := <-ch:
		f.must(err, "b acquires after a closed")
	case <-time.After(f.h.Timeout() / 2):
		f.Fatalf("b still waiting %v after a closed: Close must release at once, not leave holdings to time out", f.h.Timeout()/2)
	}
}
