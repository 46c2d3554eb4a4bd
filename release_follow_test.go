// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// TestReleaseStopsFollowingFirst: a Release stops following the
// ownership's loss before the driver's Release ends it, so that the end
// of a released ownership runs no OnLost callback (on a goroutine of its
// own, in every driver of this module) to report what the release
// reports anyway. That was one goroutine started and scheduled per
// release, on every backend.
func TestReleaseStopsFollowingFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := &followDriver{}
	scheme := fmt.Sprintf("followtest%d", time.Now().UnixNano())
	tooz.Register(scheme, memoryWrapper(func(_ tooz.Config, inner tooz.CoordinationDriver) tooz.CoordinationDriver {
		return followConn{inner, d}
	}))
	c, err := tooz.Open(ctx, scheme+"://"+scheme, "a", tooz.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	l := c.Lock("x")
	for round := range 3 {
		if err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if n := d.registered.Load(); n != int32(round+1) {
			t.Fatalf("round %d: %d OnLost registrations, want %d: the Coordinator no longer follows through OnLost, and this test checks nothing", round, n, round+1)
		}
		if n := d.followedAtRelease.Load(); n != 0 {
			t.Fatalf("round %d: %d releases found the Coordinator still following the ownership", round, n)
		}
	}
}

// followDriver is the state of the test's driver, memory:// behind a
// wrapper whose ownerships count the Coordinator's OnLost registrations
// and whether one was still in place when Release was called.
type followDriver struct {
	registered        atomic.Int32
	followedAtRelease atomic.Int32
}

type followConn struct {
	tooz.CoordinationDriver
	d *followDriver
}

type followOwnership struct {
	tooz.Ownership
	d         *followDriver
	following atomic.Bool
}

func (o *followOwnership) OnLost(f func()) func() bool {
	o.d.registered.Add(1)
	o.following.Store(true)
	stop := o.Ownership.(tooz.LostNotifier).OnLost(f)
	return func() bool {
		o.following.Store(false)
		return stop()
	}
}

func (o *followOwnership) Release(ctx context.Context) error {
	if o.following.Load() {
		o.d.followedAtRelease.Add(1)
	}
	return o.Ownership.Release(ctx)
}

func (c followConn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	own, err := c.CoordinationDriver.Acquire(ctx, res, wait)
	if err != nil {
		return nil, err
	}
	return &followOwnership{Ownership: own, d: c.d}, nil
}
