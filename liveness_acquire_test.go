// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

// TestAcquireCompletingAfterLivenessLostIsNotHeld: a member waits for a
// lock and its liveness deadline passes meanwhile (no successful
// heartbeat; here the backend still keeps its session, as an etcd lease
// does when only the client's path to the cluster is broken). When the
// wait ends in success after that, the lock was won by a session the
// member can no longer vouch for: Acquire must not report it held with an
// open Lost(), or the member acts as holder while the backend may expire
// it any moment (found by faults/TestFullCluster on a 3-node etcd when the
// leader was cut off: a holder wrote for 2.5s under a lease that expired).
// The same holds for Campaign.
func TestAcquireCompletingAfterLivenessLostIsNotHeld(t *testing.T) {
	for _, kind := range []string{"lock", "campaign"} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			url := fmt.Sprintf("memory://liveness-%s-%d", kind, time.Now().UnixNano())
			const timeout = time.Second
			a, err := tooz.Open(ctx, url, "a", tooz.WithTimeout(timeout), tooz.WithoutHeart())
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close(context.Background())
			b, err := tooz.Open(ctx, url, "b", tooz.WithTimeout(timeout))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(context.Background())

			// b holds; a waits behind it.
			release := func() error { return nil }
			switch kind {
			case "lock":
				lb := b.Lock("L")
				if err := lb.Acquire(ctx); err != nil {
					t.Fatal(err)
				}
				release = func() error { return lb.Release(ctx) }
			case "campaign":
				lead, err := b.Campaign(ctx, "E")
				if err != nil {
					t.Fatal(err)
				}
				release = func() error { return lead.Resign(ctx) }
			}
			// A lock a holds shows when a's liveness epoch ends.
			probe := a.Lock("probe")
			if err := probe.Acquire(ctx); err != nil {
				t.Fatal(err)
			}
			type result struct {
				lost <-chan struct{}
				err  error
			}
			done := make(chan result, 1)
			go func() {
				switch kind {
				case "lock":
					l := a.Lock("L")
					err := l.Acquire(ctx)
					done <- result{l.Lost(), err}
				case "campaign":
					lead, err := a.Campaign(ctx, "E")
					if err != nil {
						done <- result{nil, err}
						return
					}
					done <- result{lead.Lost(), nil}
				}
			}()
			// Keep a's session alive on the backend only (the driver's
			// heartbeat, not the Coordinator's), until its own deadline
			// has passed.
			tick := time.NewTicker(timeout / 5)
			defer tick.Stop()
		wait:
			for {
				if _, err := a.Driver().Heartbeat(ctx); err != nil {
					t.Fatalf("driver heartbeat: %v", err)
				}
				select {
				case <-probe.Lost():
					break wait
				case <-tick.C:
				case <-ctx.Done():
					t.Fatal("a's liveness never ended")
				}
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
			var r result
			for r.lost == nil && r.err == nil {
				if _, err := a.Driver().Heartbeat(ctx); err != nil {
					t.Fatalf("driver heartbeat: %v", err)
				}
				select {
				case r = <-done:
				case <-tick.C:
				case <-ctx.Done():
					t.Fatal("a's wait never ended")
				}
			}
			if r.err != nil {
				if !errors.Is(r.err, tooz.ErrSessionLost) {
					t.Fatalf("want an error wrapping ErrSessionLost, got %v", r.err)
				}
				return
			}
			select {
			case <-r.lost:
			default:
				t.Fatal("acquired after the liveness deadline passed, and Lost() is open: a holds with no liveness")
			}
		})
	}
}

// stalling wraps the memory driver so that a test can make its heartbeats
// fail (a member cut off from its backend) and count its acquisitions.
type stalling struct {
	tooz.CoordinationDriver
	failing  *atomic.Bool
	acquires *atomic.Int64
}

func (s stalling) Heartbeat(ctx context.Context) (time.Duration, error) {
	if s.failing.Load() {
		return 50 * time.Millisecond, fmt.Errorf("stalling: %w", tooz.ErrConnection)
	}
	return s.CoordinationDriver.Heartbeat(ctx)
}

func (s stalling) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	s.acquires.Add(1)
	own, err := s.CoordinationDriver.Acquire(ctx, res, wait)
	if err != nil {
		return nil, err
	}
	return stallingOwnership{own, s.failing}, nil
}

// stallingOwnership fails its Release while the backend is "unreachable".
type stallingOwnership struct {
	tooz.Ownership
	failing *atomic.Bool
}

func (o stallingOwnership) Release(ctx context.Context) error {
	if o.failing.Load() {
		return fmt.Errorf("stalling: %w", tooz.ErrConnection)
	}
	return o.Ownership.Release(ctx)
}

// stallState is one test's switch and counter, shared by the coordinators
// it opens on one stallingmem:// host.
type stallState struct {
	failing  atomic.Bool
	acquires atomic.Int64
}

// stallingDriver is the state of stallingmem://, the memory store of the
// URL's host behind a stalling wrapper: each host (each test) has its own
// stallState.
type stallingDriver struct {
	mu     sync.Mutex
	byHost map[string]*stallState
}

func (d *stallingDriver) state(host string) *stallState {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byHost[host] == nil {
		d.byHost[host] = &stallState{}
	}
	return d.byHost[host]
}

var stallingDrv = &stallingDriver{byHost: map[string]*stallState{}}

func init() {
	tooz.Register("stallingmem", memoryWrapper(func(cfg tooz.Config, inner tooz.CoordinationDriver) tooz.CoordinationDriver {
		st := stallingDrv.state(cfg.URL.Host)
		return stalling{inner, &st.failing, &st.acquires}
	}))
}

// TestAcquireWhileLivenessLapsed: while no heartbeat has succeeded within
// the timeout, a try fails at once with ErrSessionLost and a waiting
// Acquire or Campaign waits for the heart's next successful beat, without
// asking the backend for anything meanwhile; once a beat succeeds, they
// acquire and hold with an open Lost().
func TestAcquireWhileLivenessLapsed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	host := fmt.Sprintf("lapsed-%d", time.Now().UnixNano())
	d := stallingDrv.state(host)
	url := "stallingmem://" + host
	c, err := tooz.Open(ctx, url, "a", tooz.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	probe := c.Lock("probe")
	if err := probe.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	d.failing.Store(true)
	select {
	case <-probe.Lost():
	case <-ctx.Done():
		t.Fatal("the liveness never lapsed")
	}
	before := d.acquires.Load()

	ok, err := c.Lock("L").TryAcquire(ctx)
	if ok || !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("TryAcquire while lapsed = %v, %v; want false and an error wrapping ErrSessionLost", ok, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	err = c.Lock("L").Acquire(short)
	cancelShort()
	if !errors.Is(err, tooz.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire while lapsed = %v; want it to wait until its deadline (ErrNotAcquired, DeadlineExceeded)", err)
	}
	short, cancelShort = context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = c.Campaign(short, "E")
	cancelShort()
	if !errors.Is(err, tooz.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Campaign while lapsed = %v; want it to wait until its deadline", err)
	}
	if n := d.acquires.Load() - before; n != 0 {
		t.Fatalf("the backend was asked %d times to grant while the liveness had lapsed", n)
	}

	l := c.Lock("L")
	done := make(chan error, 1)
	go func() { done <- l.Acquire(ctx) }()
	d.failing.Store(false)
	if err := <-done; err != nil {
		t.Fatalf("Acquire after the liveness came back: %v", err)
	}
	select {
	case <-l.Lost():
		t.Fatal("acquired, but Lost() is closed")
	default:
	}
	lead, err := c.Campaign(ctx, "E")
	if err != nil {
		t.Fatalf("Campaign after the liveness came back: %v", err)
	}
	select {
	case <-lead.Lost():
		t.Fatal("elected, but Lost() is closed")
	default:
	}
}

// TestLapsedHoldingIsReleasedOnceReachable: when the liveness deadline
// passes while the backend is unreachable, the holding ends (Lost) and its
// release fails; the session itself may outlive the outage on the backend
// (a short outage against a TTL the backend counts generously), so the
// coordinator must give the ownership up once the backend answers again,
// or the lock stays taken by nobody forever.
func TestLapsedHoldingIsReleasedOnceReachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	host := fmt.Sprintf("orphan-%d", time.Now().UnixNano())
	d := stallingDrv.state(host)
	a, err := tooz.Open(ctx, "stallingmem://"+host, "a", tooz.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	b, err := tooz.Open(ctx, "memory://"+host, "b", tooz.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	la := a.Lock("L")
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	d.failing.Store(true)
	select {
	case <-la.Lost():
	case <-ctx.Done():
		t.Fatal("the liveness never lapsed")
	}
	d.failing.Store(false)
	// b waits for the lock: it gets it only if a gives it up, since a's
	// session lives on (the memory backend's heartbeat renews it).
	if err := b.Lock("L").Acquire(ctx); err != nil {
		t.Fatalf("b never got the lock a lost while the backend was unreachable: %v", err)
	}
}
