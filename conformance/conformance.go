// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// SessionExpirer is implemented by harnesses that can make the backend end
// a live coordinator's liveness (expire its session, revoke its lease)
// while the coordinator's process goes on. Without it, the suite opens such
// a coordinator WithoutHeart and stops heartbeating, which suffices for
// drivers whose liveness is renewed only by Heartbeat.
type SessionExpirer interface {
	ExpireSession(ctx context.Context, t *testing.T, c *tooz.Coordinator) error
}

// StateWatcher is implemented by harnesses whose backend's native watch
// reports a group's state rather than each change — ZooKeeper's one-shot
// child watches re-armed by a listing, Consul's blocking queries — so that a
// member that joins and leaves between two notifications can go unreported.
// For such a harness the events test makes its changes one at a time,
// waiting for each event before the next change; order and exactly-once
// delivery are checked all the same. Return true only when that is so.
type StateWatcher interface {
	WatchesReportState() bool
}

// slack is what the suite allows beyond a timeout for the backend and the
// watchers to act on it.
const slack = 3 * time.Second

type test struct {
	name string
	run  func(f *fixture)
}

// Run runs the whole suite against the backend h opens, as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	var all []test
	all = append(all, groupTests...)
	all = append(all, idTests...)
	all = append(all, eventTests...)
	all = append(all, memberEventTests...)
	all = append(all, lockTests...)
	all = append(all, semaphoreTests...)
	all = append(all, rwLockTests...)
	all = append(all, kvTests...)
	all = append(all, electionTests...)
	all = append(all, leadershipTests...)
	all = append(all, priorityTests...)
	all = append(all, leaderWatchTests...)
	all = append(all, livenessTests...)
	all = append(all, withoutHeartTests...)
	all = append(all, stableIDTests...)
	all = append(all, characteristicTests...)
	all = append(all, isolationTests...)
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, h)
			tc.run(f)
		})
	}
}

// fixture is one subtest's world: unique names, a deadline, the
// coordinators it opened (closed at the end), and a watchdog.
type fixture struct {
	*testing.T
	h      Harness
	ctx    context.Context
	prefix string
	bound  time.Duration // from a crash to the backend freeing what was held
}

func newFixture(t *testing.T, h Harness) *fixture {
	bound := h.Timeout()
	if eb, ok := h.(ExpiryBounder); ok {
		bound = eb.ExpiryBound()
	}
	limit := 60*time.Second + 4*bound
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	watchdog := time.AfterFunc(limit+10*time.Second, func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		panic(fmt.Sprintf("conformance: %s still running %v after it started: the driver hangs\n\n%s", t.Name(), limit+10*time.Second, buf[:n]))
	})
	t.Cleanup(func() {
		watchdog.Stop()
		cancel()
	})
	var b [4]byte
	_, _ = rand.Read(b[:])
	short := t.Name()
	if i := strings.LastIndex(short, "/"); i >= 0 {
		short = short[i+1:]
	}
	if len(short) > 24 {
		short = short[:24]
	}
	return &fixture{T: t, h: h, ctx: ctx, bound: bound, prefix: short + "-" + hex.EncodeToString(b[:])}
}

// name returns a name unique to this subtest.
func (f *fixture) name(s string) string { return f.prefix + "-" + s }

// openUnmanaged opens a coordinator that the test closes itself.
func (f *fixture) openUnmanaged(member string, opts ...tooz.Option) *tooz.Coordinator {
	f.Helper()
	c, err := f.h.Open(f.ctx, f.T, member, opts...)
	if err != nil {
		f.Fatalf("open %q: %v", member, err)
	}
	return c
}

// open opens a coordinator that the fixture closes at the end of the subtest.
func (f *fixture) open(member string, opts ...tooz.Option) *tooz.Coordinator {
	f.Helper()
	c := f.openUnmanaged(member, opts...)
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			f.Logf("close %q: %v", member, err)
		}
	})
	return c
}

func (f *fixture) must(err error, what string) {
	f.Helper()
	if err != nil {
		f.Fatalf("%s: %v", what, err)
	}
}

func (f *fixture) wantErr(err, want error, what string) {
	f.Helper()
	if !errors.Is(err, want) {
		f.Fatalf("%s: got error %v, want one wrapping %v", what, err, want)
	}
}

// crash makes c die as a killed process would.
func (f *fixture) crash(c *tooz.Coordinator) {
	f.Helper()
	if err := f.h.Crash(f.T, c); err != nil {
		f.Fatalf("crash %q: %v", c.MemberID(), err)
	}
}

// expire ends c's liveness on the backend while c lives on, and returns
// when the backend may already have expired it (the caller then waits for
// the consequence it checks).
func (f *fixture) expire(c *tooz.Coordinator) {
	f.Helper()
	if se, ok := f.h.(SessionExpirer); ok {
		f.must(se.ExpireSession(f.ctx, f.T, c), "expire session")
	}
	// Otherwise c was opened WithoutHeart (see openExpirable) and simply
	// stops heartbeating.
}

// openExpirable opens a coordinator whose liveness the test can end with expire.
func (f *fixture) openExpirable(member string, opts ...tooz.Option) *tooz.Coordinator {
	f.Helper()
	if _, ok := f.h.(SessionExpirer); !ok {
		opts = append(opts, tooz.WithoutHeart())
	}
	return f.open(member, opts...)
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// recorder collects events delivered to hooks and lets a test wait for a
// condition on them.
type recorder[T any] struct {
	mu      sync.Mutex
	events  []T
	changed chan struct{}
}

func newRecorder[T any]() *recorder[T] { return &recorder[T]{changed: make(chan struct{})} }

func (r *recorder[T]) add(e T) {
	r.mu.Lock()
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder[T]) snapshot() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.events...)
}

// waitFor waits up to d until ok holds for the events so far, and returns them.
func (r *recorder[T]) waitFor(f *fixture, d time.Duration, what string, ok func([]T) bool) []T {
	f.Helper()
	evs, held := r.await(f, d, what, ok)
	if !held {
		f.Fatalf("waited %v for %s; events so far: %+v", d, what, evs)
	}
	return evs
}

// await waits up to d until ok holds for the events so far, and returns
// them and whether it held; the caller decides what a wait that ran out
// means.
func (r *recorder[T]) await(f *fixture, d time.Duration, what string, ok func([]T) bool) ([]T, bool) {
	f.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		evs := append([]T(nil), r.events...)
		ch := r.changed
		r.mu.Unlock()
		if ok(evs) {
			return evs, true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return evs, false
		case <-f.ctx.Done():
			f.Fatalf("subtest deadline while waiting for %s; events so far: %+v", what, evs)
		}
	}
}

// count returns how many events equal e.
func count[T comparable](evs []T, e T) int {
	n := 0
	for _, x := range evs {
		if x == e {
			n++
		}
	}
	return n
}

// exclusion records who is inside a critical section and fails on overlap.
type exclusion struct {
	mu        sync.Mutex
	holder    string
	lastToken uint64
	entries   int
	errs      []string
}

func (x *exclusion) enter(who string, token uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.holder != "" {
		x.errs = append(x.errs, fmt.Sprintf("%s entered while %s was inside", who, x.holder))
	}
	if token <= x.lastToken {
		x.errs = append(x.errs, fmt.Sprintf("%s entered with fencing token %d, not above the previous %d", who, token, x.lastToken))
	}
	x.lastToken = token
	x.holder = who
	x.entries++
}

func (x *exclusion) exit(who string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.holder == who {
		x.holder = ""
	}
}

func (x *exclusion) check(f *fixture) {
	f.Helper()
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range x.errs {
		f.Error(e)
	}
}
