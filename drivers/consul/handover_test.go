// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// requestLog records the requests of a Consul API client and reports each
// blocking query as it starts.
type requestLog struct {
	next     http.RoundTripper
	blocking chan string // the path of each blocking query started

	mu   sync.Mutex
	reqs []string      // "METHOD path?query"
	gate chan struct{} // when set, transactions wait until it is closed
	held chan string   // told of each transaction the gate holds
}

// closeGate makes transactions wait, telling held, until the returned
// function opens the gate again.
func (l *requestLog) closeGate() (open func()) {
	g := make(chan struct{})
	l.mu.Lock()
	l.gate, l.held = g, make(chan string, 16)
	l.mu.Unlock()
	return func() { close(g) }
}

func (l *requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.reqs = append(l.reqs, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
	gate, held := l.gate, l.held
	l.mu.Unlock()
	if gate != nil && req.URL.Path == "/v1/txn" {
		held <- req.URL.Path
		select {
		case <-gate:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	if req.Method == http.MethodGet && req.URL.Query().Get("index") != "" {
		select {
		case l.blocking <- req.URL.Path:
		default:
		}
	}
	return l.next.RoundTrip(req)
}

// mark is where the requests recorded so far end.
func (l *requestLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// since returns the requests recorded from mark on.
func (l *requestLog) since(mark int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs[mark:]...)
}

// scene starts a Consul server and opens, in a namespace of its own, a
// plain coordinator "a" holding the lock name, and a recorded coordinator
// for each of waiters; base is the prefix of the lock's keys.
func scene(t *testing.T, waiters ...string) (ctx context.Context, la *tooz.Lock, ws []*tooz.Lock, logs []*requestLog, base string) {
	t.Helper()
	s := testserver.StartConsul(t)
	ctx = testutil.Context(t, time.Minute)
	ns := testutil.Unique("handover")
	h := harness{conformance.URLHarness{URL: "consul://" + s.Addr + "?namespace=" + ns, LivenessTimeout: testTimeout}}
	name := testutil.Unique("lock")
	a := open(t, h, "a")
	la = a.Lock(name)
	testutil.Must(t, la.Acquire(ctx), "a acquires")
	for _, w := range waiters {
		c, log := recorded(t, ctx, s, ns, w)
		ws, logs = append(ws, c.Lock(name)), append(logs, log)
	}
	base = a.Driver().(*conn).resBase(tooz.Resource{Kind: tooz.KindLock, Name: name})
	return ctx, la, ws, logs, base
}

// recorded opens a coordinator of member in namespace ns on a client of
// its own whose requests log records.
func recorded(t *testing.T, ctx context.Context, s *testserver.Server, ns, member string) (*tooz.Coordinator, *requestLog) {
	t.Helper()
	log := &requestLog{next: http.DefaultTransport.(*http.Transport).Clone(), blocking: make(chan string, 64)}
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.HttpClient = &http.Client{Transport: log}
	client, err := api.NewClient(cfg)
	testutil.Must(t, err, "recording client")
	c, err := Open(ctx, client, "consul://?namespace="+ns, member)
	testutil.Must(t, err, "open "+member)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(cctx)
	})
	return c, log
}

// waitBlocking waits until log shows a blocking query starting on a path
// that match accepts, and returns that path; it fails if acquired reports
// first.
func waitBlocking(t *testing.T, ctx context.Context, log *requestLog, match func(string) bool, acquired <-chan error) string {
	t.Helper()
	for {
		select {
		case p := <-log.blocking:
			if match(p) {
				return p
			}
		case err := <-acquired:
			t.Fatalf("Acquire returned while the lock is held: %v", err)
		case <-ctx.Done():
			t.Fatal("no blocking query on the path awaited")
		}
	}
}

// handOver releases l and checks that the waiter whose Acquire reports on
// got, and whose requests log records, took the lock without a listing and
// is its owner.
func handOver(t *testing.T, ctx context.Context, l *tooz.Lock, got <-chan error, log *requestLog, base, who string) {
	t.Helper()
	mark := log.mark()
	testutil.Must(t, l.Release(ctx), "release before "+who)
	select {
	case err := <-got:
		testutil.Must(t, err, who+"'s Acquire")
	case <-ctx.Done():
		t.Fatalf("%s did not get the lock after the release", who)
	}
	tookWithoutListing(t, log, mark, base, who)
	if id, err := l.Owner(ctx); id != who || err != nil {
		t.Fatalf("owner after the release = %q, %v; want %s", id, err, who)
	}
}

// tookWithoutListing checks the requests a waiter made from mark until it
// got the lock: a transaction, and no listing of the lock's keys.
func tookWithoutListing(t *testing.T, log *requestLog, mark int, base, who string) {
	t.Helper()
	reqs := log.since(mark)
	var took bool
	for _, r := range reqs {
		if strings.HasPrefix(r, "GET /v1/kv/"+base) && strings.Contains(r, "recurse") {
			t.Errorf("%s listed the lock's keys between the release and its acquisition: %s\nall: %q", who, r, reqs)
		}
		took = took || strings.HasPrefix(r, "PUT /v1/txn")
	}
	if !took {
		t.Fatalf("no transaction of %s's recorded after the release: %q", who, reqs)
	}
}

// TestHandOverWithoutListing: a waiter woken by the deletion of the key it
// waits on takes the lock with its transaction at once, without listing
// the lock's keys first: one round trip less per hand-over. a takes the
// lock directly (no queue entry); b queues at the head and waits on the
// owner key; c queues behind b and waits on b's queue entry, which stays
// while b holds, and goes with b's release.
func TestHandOverWithoutListing(t *testing.T) {
	ctx, la, ws, logs, base := scene(t, "b", "c")
	lb, lc, blog, clog := ws[0], ws[1], logs[0], logs[1]
	bgot, cgot := make(chan error, 1), make(chan error, 1)
	go func() { bgot <- lb.Acquire(ctx) }()
	waitBlocking(t, ctx, blog, func(p string) bool { return p == "/v1/kv/"+base+ownerName }, bgot)
	go func() { cgot <- lc.Acquire(ctx) }()
	// c waits on b's queue entry, the only one before its own.
	inQueue := func(p string) bool { return strings.HasPrefix(p, "/v1/kv/"+base+queuePrefix) }
	waitBlocking(t, ctx, clog, inQueue, cgot)
	handOver(t, ctx, la, bgot, blog, base, "b")
	handOver(t, ctx, lb, cgot, clog, base, "c")
	testutil.Must(t, lc.Release(ctx), "c releases")
}

// TestHandOverAfterAWithdrawal: the entry a waiter waits on is withdrawn
// while the lock is free but another waiter is still ahead; the waiter's
// quick take must fail its checks, and the lock still goes first in,
// first served.
func TestHandOverAfterAWithdrawal(t *testing.T) {
	ctx, la, ws, logs, base := scene(t, "b", "c", "d")
	lb, lc, ld, blog, clog, dlog := ws[0], ws[1], ws[2], logs[0], logs[1], logs[2]

	bgot, cgot, dgot := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go func() { bgot <- lb.Acquire(ctx) }()
	waitBlocking(t, ctx, blog, func(p string) bool { return p == "/v1/kv/"+base+ownerName }, bgot)
	cctx, cancelC := context.WithCancel(ctx)
	go func() { cgot <- lc.Acquire(cctx) }()
	inQueue := func(p string) bool { return strings.HasPrefix(p, "/v1/kv/"+base+queuePrefix) }
	bKey := waitBlocking(t, ctx, clog, inQueue, cgot) // c waits on b's entry
	go func() { dgot <- ld.Acquire(ctx) }()
	// d waits on c's entry, not b's.
	waitBlocking(t, ctx, dlog, func(p string) bool { return inQueue(p) && p != bKey }, dgot)
	// a releases, and b, woken, is held at its transaction; then c
	// withdraws. d, woken, finds the lock free, but b is still ahead: d's
	// quick take must fail its checks, and d waits again.
	open := blog.closeGate()
	testutil.Must(t, la.Release(ctx), "a releases")
	select {
	case <-blog.held:
	case <-ctx.Done():
		t.Fatal("b did not try to take the lock after a's release")
	}
	cancelC()
	if err := <-cgot; !errors.Is(err, context.Canceled) {
		t.Fatalf("c's Acquire after its ctx ended = %v, want context.Canceled", err)
	}
	// d waits again, on b's entry (waitBlocking fails if d's Acquire
	// returns first).
	waitBlocking(t, ctx, dlog, func(p string) bool { return p == bKey }, dgot)
	open()
	testutil.Must(t, <-bgot, "b's Acquire")
	select {
	case err := <-dgot:
		t.Fatalf("d's Acquire returned while b holds the lock: %v", err)
	default:
	}
	testutil.Must(t, lb.Release(ctx), "b releases")
	testutil.Must(t, <-dgot, "d's Acquire")
	if id, err := ld.Owner(ctx); id != "d" || err != nil {
		t.Fatalf("owner after b's release = %q, %v; want d", id, err)
	}
	testutil.Must(t, ld.Release(ctx), "d releases")
}
