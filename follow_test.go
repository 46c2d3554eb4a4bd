// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// TestHeldLocksCostNoGoroutine: the Coordinator follows a holding (its
// driver's loss, its own liveness deadline) through callbacks, not a
// goroutine per holding, when the driver's ownership is a LostNotifier.
func TestHeldLocksCostNoGoroutine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := tooz.Open(ctx, fmt.Sprintf("memory://no-goroutine-%d", time.Now().UnixNano()), "a")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	warm := c.Lock("warm")
	if err := warm.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 200
	before := runtime.NumGoroutine()
	locks := make([]*tooz.Lock, n)
	for i := range locks {
		locks[i] = c.Lock(fmt.Sprintf("l%d", i))
		if err := locks[i].Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Other tests' goroutines may come and go meanwhile: allow a few,
	// far below one per lock.
	if grown := runtime.NumGoroutine() - before; grown >= n/10 {
		t.Fatalf("holding %d locks added %d goroutines; want none per lock", n, grown)
	}
	for _, l := range locks {
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLossIsFollowedWithoutLostNotifier: a driver whose ownerships are not
// LostNotifiers still has their loss reported (the Coordinator then waits
// on Lost from a goroutine of its own).
func TestLossIsFollowedWithoutLostNotifier(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := tooz.Open(ctx, fmt.Sprintf("plainlost://t%d", time.Now().UnixNano()), "a")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	l := c.Lock("x")
	if err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	plainDrv.mu.Lock()
	own := plainDrv.last
	plainDrv.mu.Unlock()
	if _, ok := any(own).(tooz.LostNotifier); ok {
		t.Fatal("the test's ownership is a LostNotifier: the test follows nothing")
	}
	own.lose()
	select {
	case <-l.Lost():
	case <-ctx.Done():
		t.Fatal("the lock's Lost did not close after the driver lost its ownership")
	}
	if err := l.Err(); !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("Err after the loss = %v; want ErrSessionLost", err)
	}
}

// plainOwnership is an Ownership with no OnLost, whose loss the test
// causes with lose.
type plainOwnership struct {
	inner tooz.Ownership
	lost  chan struct{}
	once  sync.Once
}

func (o *plainOwnership) FencingToken() uint64  { return o.inner.FencingToken() }
func (o *plainOwnership) Lost() <-chan struct{} { return o.lost }
func (o *plainOwnership) lose()                 { o.once.Do(func() { close(o.lost) }) }
func (o *plainOwnership) Release(ctx context.Context) error {
	o.lose()
	return o.inner.Release(ctx)
}

// plainDriver is the state of plainlost://, memory:// behind a wrapper
// whose ownerships are plain: the last one it issued.
type plainDriver struct {
	mu   sync.Mutex
	last *plainOwnership
}

type plainConn struct {
	tooz.CoordinationDriver
	d *plainDriver
}

func (c plainConn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	own, err := c.CoordinationDriver.Acquire(ctx, res, wait)
	if err != nil {
		return nil, err
	}
	p := &plainOwnership{inner: own, lost: make(chan struct{})}
	c.d.mu.Lock()
	c.d.last = p
	c.d.mu.Unlock()
	return p, nil
}

var plainDrv = &plainDriver{}

func init() {
	tooz.Register("plainlost", memoryWrapper(func(_ tooz.Config, inner tooz.CoordinationDriver) tooz.CoordinationDriver {
		return plainConn{inner, plainDrv}
	}))
}
