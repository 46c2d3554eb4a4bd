// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"fmt"
	"sync"
	"time"

	"github.com/toozgo/tooz"
)

var rwLockTests = []test{
	{"RWLockSharedTwiceOnOneHandle", testRWSharedTwice},
	{"RWLockSharedAndExclusiveBothWays", testRWBothWays},
	{"RWLockWriterNotStarvedByReaders", testRWWriterNotStarved},
	{"RWLockReadersTogetherAfterWriter", testRWReadersTogether},
	{"RWLockExclusionAndFencing", testRWExclusion},
	{"RWLockFreedAfterCrash", testRWFreedAfterCrash},
	{"RWLockFreedAtOnceOnClose", testRWFreedOnClose},
}

func testRWSharedTwice(f *fixture) {
	ctx := f.ctx
	name := f.name("rw")
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	l := a.RWLock(name)
	f.must(l.AcquireShared(ctx), "shared")
	tok := l.FencingToken()
	ok, err := l.TryAcquireShared(ctx)
	f.tryTrue(ok, err, "shared again on the same handle")
	if !l.Shared() || l.FencingToken() != tok || tok == 0 {
		f.Fatalf("after two shared acquisitions: shared %v, token %d (first %d)", l.Shared(), l.FencingToken(), tok)
	}
	f.wantErr(l.Acquire(ctx), tooz.ErrLockAlreadyHeld, "exclusive on a handle holding it shared")
	f.must(l.Release(ctx), "first release")
	if !l.Held() {
		f.Fatal("one release of two shared acquisitions freed the lock")
	}
	ok, err = b.RWLock(name).TryAcquire(ctx)
	f.tryFalse(ok, err, "exclusive while the handle still holds one shared acquisition")
	f.must(l.Release(ctx), "second release")
	if l.Held() || l.Err() != nil {
		f.Fatalf("after the last release: held %v, err %v", l.Held(), l.Err())
	}
	f.wantErr(l.Release(ctx), tooz.ErrLockNotHeld, "a third release")
	ok, err = b.RWLock(name).TryAcquire(ctx)
	f.tryTrue(ok, err, "exclusive once both shared acquisitions were released")
}

func testRWBothWays(f *fixture) {
	ctx := f.ctx
	name := f.name("rw")
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	ra, rb := a.RWLock(name), b.RWLock(name)
	// Shared holders together.
	ok, err := ra.TryAcquireShared(ctx)
	f.tryTrue(ok, err, "a shared")
	ok, err = rb.TryAcquireShared(ctx)
	f.tryTrue(ok, err, "b shared beside a")
	f.holders(ra.Holders, a.MemberID(), b.MemberID())
	f.must(rb.Release(ctx), "b releases")
	// Shared held: exclusive fails, then succeeds once released.
	ok, err = rb.TryAcquire(ctx)
	f.tryFalse(ok, err, "b exclusive while a holds it shared")
	f.must(ra.Release(ctx), "a releases")
	ok, err = rb.TryAcquire(ctx)
	f.tryTrue(ok, err, "b exclusive once a released")
	if rb.Shared() {
		f.Fatal("an exclusive holder reports Shared")
	}
	f.holders(ra.Holders, b.MemberID())
	tx := rb.FencingToken()
	// Exclusive held: shared and exclusive fail, then shared succeeds.
	ok, err = ra.TryAcquireShared(ctx)
	f.tryFalse(ok, err, "a shared while b holds it exclusively")
	ok, err = a.RWLock(name).TryAcquire(ctx)
	f.tryFalse(ok, err, "a exclusive while b holds it exclusively")
	f.must(rb.Release(ctx), "b releases")
	ok, err = ra.TryAcquireShared(ctx)
	f.tryTrue(ok, err, "a shared once b released")
	if ts := ra.FencingToken(); ts <= tx {
		f.Fatalf("shared token %d not above the earlier exclusive holder's %d", ts, tx)
	}
	f.must(ra.Release(ctx), "a releases")
}

// testRWWriterNotStarved pins the fairness rule: once an exclusive
// contender waits, shared contenders that come after it wait behind it,
// so a stream of readers cannot starve it.
func testRWWriterNotStarved(f *fixture) {
	ctx := f.ctx
	name := f.name("rw")
	r1 := f.open(f.name("r1")).RWLock(name)
	probe := f.open(f.name("probe"))
	w := f.open(f.name("w")).RWLock(name)
	f.must(r1.AcquireShared(ctx), "r1 shared")
	wch := acquireAsync(ctx, w.Acquire)
	// Until the writer is queued a new reader may still get in; once it is,
	// every new reader is refused.
	deadline := time.Now().Add(eventWait)
	for {
		l := probe.RWLock(name)
		ok, err := l.TryAcquireShared(ctx)
		f.must(err, "probe reader")
		if !ok {
			break
		}
		f.must(l.Release(ctx), "probe reader releases")
		if time.Now().After(deadline) {
			f.Fatalf("readers still get the lock %v after a writer started waiting", eventWait)
		}
	}
	// A stream of readers keeps coming, all after the writer queued: none
	// of them gets in before the writer, which gets in after r1 alone.
	var (
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		readers = make(chan error, 4)
		mu      sync.Mutex
		reads   int
		moved   = make(chan struct{})
	)
	for i := range 3 {
		r := f.open(f.name(fmt.Sprintf("s%d", i))).RWLock(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := r.AcquireShared(ctx); err != nil {
					readers <- err
					return
				}
				mu.Lock()
				if reads++; reads == 3 {
					close(moved)
				}
				mu.Unlock()
				if err := r.Release(ctx); err != nil {
					readers <- err
					return
				}
			}
		}()
	}
	f.notYet(wch, "the writer (r1 holds it shared)")
	f.must(r1.Release(ctx), "r1 releases")
	f.got(wch, "the writer, queued before the stream of readers")
	mu.Lock()
	early := reads
	mu.Unlock()
	if early != 0 {
		f.Errorf("%d readers that came after the queued writer got the lock before it", early)
	}
	f.must(w.Release(ctx), "the writer releases")
	select {
	case <-moved:
	case <-time.After(eventWait):
		f.Errorf("the readers did not get the lock within %v of the writer's release", eventWait)
	}
	close(stop)
	wg.Wait()
	close(readers)
	for err := range readers {
		f.Error(err)
	}
}

func testRWReadersTogether(f *fixture) {
	ctx := f.ctx
	name := f.name("rw")
	w := f.open(f.name("w")).RWLock(name)
	f.must(w.Acquire(ctx), "writer")
	ra, rb := f.open(f.name("ra")).RWLock(name), f.open(f.name("rb")).RWLock(name)
	cha := acquireAsync(ctx, ra.AcquireShared)
	chb := acquireAsync(ctx, rb.AcquireShared)
	f.notYet(cha, "reader a")
	f.notYet(chb, "reader b")
	tw := w.FencingToken()
	f.must(w.Release(ctx), "writer releases")
	f.got(cha, "reader a")
	f.got(chb, "reader b")
	if ra.FencingToken() <= tw || rb.FencingToken() <= tw {
		f.Fatalf("readers' tokens %d and %d not above the writer's %d", ra.FencingToken(), rb.FencingToken(), tw)
	}
	f.holders(ra.Holders, f.name("ra"), f.name("rb"))
}

// rwState checks readers and writers against each other and the tokens.
type rwState struct {
	mu        sync.Mutex
	readers   int
	writer    string
	lastWrite uint64 // the highest exclusive token so far
	highest   uint64 // the highest token of any holder so far
	writes    int
	reads     int
	errs      []string
}

func (s *rwState) enter(who string, exclusive bool, tok uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case exclusive && (s.writer != "" || s.readers > 0):
		s.errs = append(s.errs, fmt.Sprintf("writer %s entered with %d readers and writer %q inside", who, s.readers, s.writer))
	case !exclusive && s.writer != "":
		s.errs = append(s.errs, fmt.Sprintf("reader %s entered while writer %s was inside", who, s.writer))
	}
	if tok <= s.lastWrite {
		s.errs = append(s.errs, fmt.Sprintf("%s entered with token %d, not above the last writer's %d", who, tok, s.lastWrite))
	}
	if exclusive {
		if tok <= s.highest {
			s.errs = append(s.errs, fmt.Sprintf("writer %s entered with token %d, not above an earlier holder's %d", who, tok, s.highest))
		}
		s.writer, s.lastWrite = who, tok
		s.writes++
	} else {
		s.readers++
		s.reads++
	}
	s.highest = max(s.highest, tok)
}

func (s *rwState) exit(who string, exclusive bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if exclusive {
		s.writer = ""
	} else {
		s.readers--
	}
}

func testRWExclusion(f *fixture) {
	name := f.name("rw")
	var st rwState
	const coords, rounds = 4, 6
	var cs []contender
	for i := range coords {
		c := f.open(f.name(fmt.Sprintf("c%d", i)))
		for j, exclusive := range []bool{false, i%2 == 0} {
			who := fmt.Sprintf("c%d/h%d", i, j)
			l := c.RWLock(name)
			acquire := l.AcquireShared
			if exclusive {
				acquire = l.Acquire
			}
			cs = append(cs, contender{who: who, acquire: acquire, release: l.Release, section: func() {
				st.enter(who, exclusive, l.FencingToken())
				time.Sleep(time.Millisecond) // the work, so that sections overlap
				st.exit(who, exclusive)
			}})
		}
	}
	f.contend(rounds, cs)
	for _, e := range st.errs {
		f.Error(e)
	}
	if want := len(cs) * rounds; st.writes+st.reads != want {
		f.Fatalf("%d writes and %d reads, want %d in all", st.writes, st.reads, want)
	}
}

func testRWFreedAfterCrash(f *fixture) {
	name := f.name("rw")
	a, b := f.open(f.name("a")), f.open(f.name("b"))
	la := a.RWLock(name)
	f.must(la.Acquire(f.ctx), "a exclusive")
	lb := b.RWLock(name)
	f.freedAfterCrash("read/write lock", a, la, lb.AcquireShared, lb)
}

func testRWFreedOnClose(f *fixture) {
	name := f.name("rw")
	a := f.openUnmanaged(f.name("a"))
	b := f.open(f.name("b"))
	la := a.RWLock(name)
	f.must(la.AcquireShared(f.ctx), "a shared")
	f.freedOnClose(a, la, b.RWLock(name).Acquire)
}
