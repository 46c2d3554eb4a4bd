// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/toozgo/tooz"
)

var semaphoreTests = []test{
	{"SemaphoreTryAcquire", testSemaphoreTry},
	{"SemaphoreBadInputBeforeIO", testSemaphoreBadInput},
	{"SemaphoreLimitMismatch", testSemaphoreMismatch},
	{"SemaphoreReleaseRules", testSemaphoreReleaseRules},
	{"SemaphoreWaitDeadlineIsNotAcquired", testSemaphoreWaitDeadline},
	{"SemaphoreOneWaiterPerFreedPermit", testSemaphoreOnePerPermit},
	{"SemaphoreAtMostNHolders", testSemaphoreAtMostN},
	{"SemaphoreFreedAfterCrash", testSemaphoreFreedAfterCrash},
	{"SemaphoreFreedAtOnceOnClose", testSemaphoreFreedOnClose},
	{"SemaphoreLostBeforeTakeover", testSemaphoreLostBeforeTakeover},
	{"SemaphoreQueueSeenAfterUncontendedCycles", testSemaphoreSeenAfterCycles},
}

// tryTrue and tryFalse check a TryAcquire-like result.
func (f *fixture) tryTrue(ok bool, err error, what string) {
	f.Helper()
	if err != nil || !ok {
		f.Fatalf("%s = %v, %v; want true, nil", what, ok, err)
	}
}

func (f *fixture) tryFalse(ok bool, err error, what string) {
	f.Helper()
	if err != nil || ok {
		f.Fatalf("%s = %v, %v; want false, nil", what, ok, err)
	}
}

// holders checks that the holders of a semaphore or read/write lock, as
// list reports them, are want (in any order). Every use follows the
// acquisitions and releases it depends on having returned, which the
// listing must then reflect: no waiting.
func (f *fixture) holders(list func(context.Context) ([]string, error), want ...string) {
	f.Helper()
	got, err := list(f.ctx)
	f.must(err, "holders")
	got = slices.Clone(got)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
		f.Fatalf("holders %q, want %q", got, want)
	}
}

func testSemaphoreTry(f *fixture) {
	ctx := f.ctx
	name := f.name("sem")
	a, b, c := f.open(f.name("a")), f.open(f.name("b")), f.open(f.name("c"))
	sa, sb, sc := a.Semaphore(name, 2), b.Semaphore(name, 2), c.Semaphore(name, 2)
	if sa.Held() || sa.FencingToken() != 0 || !closed(sa.Lost()) || sa.Limit() != 2 || sa.Name() != name {
		f.Fatal("a fresh semaphore handle claims to hold a permit")
	}
	ok, err := sa.TryAcquire(ctx)
	f.tryTrue(ok, err, "a: TryAcquire of a free semaphore")
	ok, err = sb.TryAcquire(ctx)
	f.tryTrue(ok, err, "b: TryAcquire of the second permit")
	if !sa.Held() || !sb.Held() || sa.FencingToken() == 0 || sa.FencingToken() == sb.FencingToken() {
		f.Fatalf("holders: held %v %v, tokens %d %d (want non-zero and distinct)", sa.Held(), sb.Held(), sa.FencingToken(), sb.FencingToken())
	}
	ok, err = sc.TryAcquire(ctx)
	f.tryFalse(ok, err, "c: TryAcquire with both permits held")
	f.holders(sc.Holders, a.MemberID(), b.MemberID())
	ta := sa.FencingToken()
	f.must(sa.Release(ctx), "a releases")
	if sa.Held() || sa.FencingToken() != 0 || sa.Err() != nil {
		f.Fatalf("after Release: held %v, token %d, err %v", sa.Held(), sa.FencingToken(), sa.Err())
	}
	ok, err = sc.TryAcquire(ctx)
	f.tryTrue(ok, err, "c: TryAcquire after a released")
	if tc := sc.FencingToken(); tc <= ta {
		f.Fatalf("c's token %d is not above a's %d, released before c asked", tc, ta)
	}
	f.holders(sa.Holders, b.MemberID(), c.MemberID())
	f.must(sb.Release(ctx), "b releases")
	f.must(sc.Release(ctx), "c releases")
	f.holders(sa.Holders)
}

func testSemaphoreBadInput(f *fixture) {
	name := f.name("sem")
	c, err := f.h.Open(f.ctx, f.T, f.name("closed"))
	f.must(err, "open")
	f.must(c.Close(f.ctx), "close")
	// A closed coordinator does no I/O: the input is checked first.
	for _, n := range []int{0, -1, tooz.MaxPermits + 1, 1 << 40} {
		s := c.Semaphore(name, n)
		f.wantErr(s.Acquire(f.ctx), tooz.ErrInvalidLimit, fmt.Sprintf("Acquire with %d permits", n))
		_, err := s.TryAcquire(f.ctx)
		f.wantErr(err, tooz.ErrInvalidLimit, fmt.Sprintf("TryAcquire with %d permits", n))
	}
	f.wantErr(c.Semaphore("", 1).Acquire(f.ctx), tooz.ErrInvalidID, "empty name")
	f.wantErr(c.Semaphore(name, 1).Acquire(f.ctx), tooz.ErrClosed, "good input on a closed coordinator")
	live := f.open(f.name("live"))
	f.wantErr(live.Semaphore(name, 0).Acquire(f.ctx), tooz.ErrInvalidLimit, "0 permits")
	ok, err := live.Semaphore(name, tooz.MaxPermits).TryAcquire(f.ctx)
	f.tryTrue(ok, err, "TryAcquire with MaxPermits permits")
}

func testSemaphoreMismatch(f *fixture) {
	ctx := f.ctx
	name := f.name("sem")
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	sa := a.Semaphore(name, 2)
	f.must(sa.Acquire(ctx), "a acquires with 2 permits")
	_, err := b.Semaphore(name, 3).TryAcquire(ctx)
	f.wantErr(err, tooz.ErrLimitMismatch, "TryAcquire with 3 permits while 2 are in force")
	f.wantErr(b.Semaphore(name, 1).Acquire(ctx), tooz.ErrLimitMismatch, "Acquire with 1 permit while 2 are in force")
	// The refused contenders left nothing behind: the second permit is free.
	ok, err := b.Semaphore(name, 2).TryAcquire(ctx)
	f.tryTrue(ok, err, "TryAcquire with the agreed size")
	f.holders(sa.Holders, a.MemberID(), b.MemberID())
	if !sa.Held() {
		f.Fatal("a mismatched contender ended the holder's permit")
	}
	f.must(sa.Release(ctx), "a releases")
}

func testSemaphoreReleaseRules(f *fixture) {
	ctx := f.ctx
	name := f.name("sem")
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	sa := a.Semaphore(name, 1)
	f.wantErr(sa.Release(ctx), tooz.ErrLockNotHeld, "release of a never-acquired handle")
	f.must(sa.Acquire(ctx), "a acquires")
	f.wantErr(sa.Acquire(ctx), tooz.ErrLockAlreadyHeld, "acquire twice on one handle")
	// Two handles on one coordinator are two contenders.
	ok, err := a.Semaphore(name, 1).TryAcquire(ctx)
	f.tryFalse(ok, err, "a second handle of the same coordinator")
	f.wantErr(b.Semaphore(name, 1).Release(ctx), tooz.ErrLockNotHeld, "release by a non-holder")
	if !sa.Held() {
		f.Fatal("a non-holder's release ended the holder's permit")
	}
	f.must(sa.Release(ctx), "a releases")
	f.wantErr(sa.Release(ctx), tooz.ErrLockNotHeld, "release twice")
	f.must(sa.Acquire(ctx), "a acquires again")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	f.must(sa.Release(cctx), "release on a cancelled context")
	ok, err = b.Semaphore(name, 1).TryAcquire(ctx)
	f.tryTrue(ok, err, "TryAcquire after a release on a cancelled context")
}

func testSemaphoreWaitDeadline(f *fixture) {
	name := f.name("sem")
	a, b, c := f.open(f.name("a")), f.open(f.name("b")), f.open(f.name("c"))
	sa := a.Semaphore(name, 1)
	f.must(sa.Acquire(f.ctx), "a acquires")
	ctx, cancel := context.WithTimeout(f.ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.Semaphore(name, 1).Acquire(ctx)
	if !errors.Is(err, tooz.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
		f.Fatalf("Acquire past its deadline: %v, want ErrNotAcquired wrapping context.DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		f.Fatalf("Acquire gave up after %v, before its 300ms deadline", waited)
	}
	f.must(sa.Release(f.ctx), "a releases")
	ok, err := c.Semaphore(name, 1).TryAcquire(f.ctx)
	f.tryTrue(ok, err, "TryAcquire after the waiter gave up and a released (the waiter must withdraw)")
}

// acquireAsync starts s.Acquire on a goroutine; the channel gets its result.
func acquireAsync(ctx context.Context, acquire func(context.Context) error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- acquire(ctx) }()
	return ch
}

// notYet checks that a waiting acquisition has not returned (a check, not synchronization).
func (f *fixture) notYet(ch <-chan error, who string) {
	f.Helper()
	select {
	case err := <-ch:
		f.Fatalf("%s acquired while it should wait: %v", who, err)
	case <-time.After(100 * time.Millisecond):
	}
}

// got waits for a waiting acquisition to succeed.
func (f *fixture) got(ch <-chan error, who string) {
	f.Helper()
	select {
	case err := <-ch:
		f.must(err, who+" acquires")
	case <-time.After(eventWait):
		f.Fatalf("%s still waiting %v after its turn came", who, eventWait)
	}
}

func testSemaphoreOnePerPermit(f *fixture) {
	ctx := f.ctx
	name := f.name("sem")
	var hs []*tooz.Semaphore
	for i := range 2 {
		s := f.open(f.name(fmt.Sprintf("h%d", i))).Semaphore(name, 2)
		f.must(s.Acquire(ctx), "holder acquires")
		hs = append(hs, s)
	}
	w1c, w2c := f.open(f.name("w1")), f.open(f.name("w2"))
	w1, w2 := w1c.Semaphore(name, 2), w2c.Semaphore(name, 2)
	owner := map[*tooz.Semaphore]string{w1: w1c.MemberID(), w2: w2c.MemberID()}
	ch1 := acquireAsync(ctx, w1.Acquire)
	f.notYet(ch1, "w1")
	ch2 := acquireAsync(ctx, w2.Acquire)
	f.notYet(ch2, "w2")
	t0 := hs[0].FencingToken()
	f.must(hs[0].Release(ctx), "the first holder releases")
	// One permit freed: exactly one waiter gets it.
	var first, second *tooz.Semaphore
	var rest <-chan error
	select {
	case err := <-ch1:
		f.must(err, "w1 acquires")
		first, second, rest = w1, w2, ch2
	case err := <-ch2:
		f.must(err, "w2 acquires")
		first, second, rest = w2, w1, ch1
	case <-time.After(eventWait):
		f.Fatalf("no waiter got the freed permit within %v", eventWait)
	}
	if first.FencingToken() <= t0 {
		f.Fatalf("new holder's token %d not above the released one's %d", first.FencingToken(), t0)
	}
	f.notYet(rest, "the other waiter (one permit was freed)")
	f.holders(first.Holders, f.name("h1"), owner[first])
	f.must(hs[1].Release(ctx), "the second holder releases")
	f.got(rest, "the other waiter")
	if !first.Held() || !second.Held() {
		f.Fatal("the two waiters do not both hold")
	}
}

func testSemaphoreAtMostN(f *fixture) {
	name := f.name("sem")
	const limit, coords, handles, rounds = 3, 3, 3, 6
	var (
		mu      sync.Mutex
		inside  int
		most    int
		tokens  = map[uint64]string{}
		entries int
		errs    []string
	)
	var cs []contender
	for i := range coords {
		c := f.open(f.name(fmt.Sprintf("c%d", i)))
		for j := range handles {
			who := fmt.Sprintf("c%d/h%d", i, j)
			s := c.Semaphore(name, limit)
			cs = append(cs, contender{who: who, acquire: s.Acquire, release: s.Release, section: func() {
				tok := s.FencingToken()
				mu.Lock()
				inside++
				most = max(most, inside)
				entries++
				if inside > limit {
					errs = append(errs, fmt.Sprintf("%s entered as holder number %d of a %d-permit semaphore", who, inside, limit))
				}
				if prev, dup := tokens[tok]; dup || tok == 0 {
					errs = append(errs, fmt.Sprintf("%s got token %d, already %s's", who, tok, prev))
				}
				tokens[tok] = who
				mu.Unlock()
				time.Sleep(2 * time.Millisecond) // hold the permit a moment (the work)
				mu.Lock()
				inside--
				mu.Unlock()
			}})
		}
	}
	f.contend(rounds, cs)
	for _, e := range errs {
		f.Error(e)
	}
	if entries != coords*handles*rounds {
		f.Fatalf("%d permits taken, want %d", entries, coords*handles*rounds)
	}
	f.Logf("at most %d holders at once (limit %d)", most, limit)
}

func testSemaphoreFreedAfterCrash(f *fixture) {
	name := f.name("sem")
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	sa := a.Semaphore(name, 1)
	f.must(sa.Acquire(f.ctx), "a acquires")
	sb := b.Semaphore(name, 1)
	f.freedAfterCrash("permit", a, sa, sb.Acquire, sb)
}

func testSemaphoreFreedOnClose(f *fixture) {
	name := f.name("sem")
	a := f.openUnmanaged(f.name("a"))
	b := f.open(f.name("b"))
	sa := a.Semaphore(name, 1)
	f.must(sa.Acquire(f.ctx), "a acquires")
	f.freedOnClose(a, sa, b.Semaphore(name, 1).Acquire)
}

func testSemaphoreLostBeforeTakeover(f *fixture) {
	name := f.name("sem")
	a := f.openExpirable(f.name("a"))
	b := f.open(f.name("b"))
	sa := a.Semaphore(name, 1)
	f.must(sa.Acquire(f.ctx), "a acquires")
	type took struct {
		aLostFirst bool
		err        error
	}
	res := make(chan took, 1)
	bctx, cancel := context.WithTimeout(f.ctx, f.bound+slack+f.h.Timeout())
	defer cancel()
	go func() {
		err := b.Semaphore(name, 1).Acquire(bctx)
		res <- took{closed(sa.Lost()), err}
	}()
	f.expire(a)
	tk := <-res
	f.must(tk.err, "b acquires after a's liveness ended")
	if !tk.aLostFirst {
		f.Fatal("b got the permit while a had not been told it lost it")
	}
	f.wantErr(sa.Err(), tooz.ErrSessionLost, "a's Err after the loss")
	f.wantErr(sa.Release(f.ctx), tooz.ErrLockNotHeld, "release of a lost permit")
}

// testSemaphoreSeenAfterCycles: a coordinator that took and gave back the
// permits of a semaphore with nobody else about (which a driver may make
// cheaper by remembering it was alone) still sees, and waits behind, a
// contender that came since, of another coordinator or of its own; the
// read/write lock likewise.
func testSemaphoreSeenAfterCycles(f *fixture) {
	ctx := f.ctx
	name := f.name("sem")
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	sa, sa2, sb := a.Semaphore(name, 1), a.Semaphore(name, 1), b.Semaphore(name, 1)
	for range 2 {
		f.must(sa.Acquire(ctx), "a takes the permit")
		f.must(sa.Release(ctx), "a gives it back")
	}
	f.must(sb.Acquire(ctx), "b takes the permit")
	ok, err := sa.TryAcquire(ctx)
	f.tryFalse(ok, err, "a: TryAcquire while b holds the only permit")
	f.must(sb.Release(ctx), "b gives it back")
	f.must(sa.Acquire(ctx), "a takes the permit")
	ok, err = sa2.TryAcquire(ctx)
	f.tryFalse(ok, err, "a's second handle: TryAcquire while its first holds the only permit")
	f.must(sa.Release(ctx), "a gives it back")

	rw, rwb := a.RWLock(name), b.RWLock(name)
	f.must(rw.Acquire(ctx), "a takes the write lock")
	f.must(rw.Release(ctx), "a gives it back")
	f.must(rwb.AcquireShared(ctx), "b reads")
	ok, err = rw.TryAcquire(ctx)
	f.tryFalse(ok, err, "a: TryAcquire of the write lock while b reads")
	f.must(rwb.Release(ctx), "b stops reading")
}
