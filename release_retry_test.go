// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// TestFailedReleaseIsRetried: a Release the backend refused (here: the
// driver's first Release fails without giving anything up, as a call an
// API server refused while it restarted) is retried after the next
// heartbeat, so the lock does not stay held by a session that lives on.
// Before, the holder's handle ended and the lock stayed taken for good.
func TestFailedReleaseIsRetried(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := fmt.Sprintf("failrelease://t%d", time.Now().UnixNano())
	a, err := tooz.Open(ctx, ns, "a", tooz.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	b, err := tooz.Open(ctx, ns, "b", tooz.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	la := a.Lock("x")
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	failDrv.fail.Store(1)
	if err := la.Release(ctx); !errors.Is(err, tooz.ErrConnection) {
		t.Fatalf("the refused release returned %v; want ErrConnection", err)
	}
	if err := b.Lock("x").Acquire(ctx); err != nil {
		t.Fatalf("the lock stayed held after its holder's release failed once: %v", err)
	}
}

// failDriver is the state of failrelease://, memory:// behind a wrapper
// whose ownerships' Release fails, without releasing, as many times as
// fail says.
type failDriver struct{ fail atomic.Int32 }

type failConn struct {
	tooz.CoordinationDriver
	d *failDriver
}

type failOwnership struct {
	tooz.Ownership
	d *failDriver
}

func (o failOwnership) Release(ctx context.Context) error {
	if o.d.fail.Add(-1) >= 0 {
		return fmt.Errorf("%w: refused (test)", tooz.ErrConnection)
	}
	return o.Ownership.Release(ctx)
}

func (c failConn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	own, err := c.CoordinationDriver.Acquire(ctx, res, wait)
	if err != nil {
		return nil, err
	}
	return failOwnership{own, c.d}, nil
}

var failDrv = &failDriver{}

func init() {
	tooz.Register("failrelease", memoryWrapper(func(_ tooz.Config, inner tooz.CoordinationDriver) tooz.CoordinationDriver {
		return failConn{inner, failDrv}
	}))
}
