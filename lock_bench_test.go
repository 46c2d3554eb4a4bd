// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// BenchmarkCoreLockCycle measures what the Coordinator adds to a lock cycle
// over its driver, on the memory driver (no I/O): validation, the holding
// and its goroutine, the cleanup context.
func BenchmarkCoreLockCycle(b *testing.B) {
	ctx := context.Background()
	c, err := tooz.Open(ctx, fmt.Sprintf("memory://bench-%d", time.Now().UnixNano()), "m")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	b.Run("tooz", func(b *testing.B) {
		l := c.Lock("x")
		for b.Loop() {
			if err := l.Acquire(ctx); err != nil {
				b.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("driver", func(b *testing.B) {
		d := c.Driver()
		for b.Loop() {
			o, err := d.Acquire(ctx, tooz.Resource{Kind: tooz.KindLock, Name: "y"}, true)
			if err != nil {
				b.Fatal(err)
			}
			if err := o.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCorePermitCycle is BenchmarkCoreLockCycle for a semaphore
// permit and the read/write lock's two modes: the same core path over
// the optional driver interface.
func BenchmarkCorePermitCycle(b *testing.B) {
	ctx := context.Background()
	c, err := tooz.Open(ctx, fmt.Sprintf("memory://bench-%d", time.Now().UnixNano()), "m")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	rw := c.RWLock("rw")
	for _, tc := range []struct {
		name             string
		acquire, release func(context.Context) error
	}{
		{"lock", c.Lock("x").Acquire, nil},
		{"permit", c.Semaphore("s", 4).Acquire, nil},
		{"exclusive", rw.Acquire, rw.Release},
		{"shared", rw.AcquireShared, rw.Release},
	} {
		if tc.release == nil {
			switch tc.name {
			case "lock":
				l := c.Lock("x")
				tc.acquire, tc.release = l.Acquire, l.Release
			default:
				s := c.Semaphore("s", 4)
				tc.acquire, tc.release = s.Acquire, s.Release
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if err := tc.acquire(ctx); err != nil {
					b.Fatal(err)
				}
				if err := tc.release(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
