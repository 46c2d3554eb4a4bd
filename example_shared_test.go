// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

func ExampleSemaphore() {
	ctx := context.Background()
	a, _ := tooz.Open(ctx, "memory://example-semaphore", "worker-1")
	defer a.Close(ctx)
	b, _ := tooz.Open(ctx, "memory://example-semaphore", "worker-2")
	defer b.Close(ctx)

	// At most 2 report jobs run at once, across the fleet.
	s1, s2 := a.Semaphore("report-jobs", 2), b.Semaphore("report-jobs", 2)
	if err := s1.Acquire(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer s1.Release(ctx)
	ok, _ := s2.TryAcquire(ctx)
	fmt.Println("second permit:", ok)
	ok, _ = a.Semaphore("report-jobs", 2).TryAcquire(ctx)
	fmt.Println("third permit:", ok)
	holders, _ := s1.Holders(ctx)
	fmt.Println("holders:", holders)

	// Every holder must agree on the number of permits.
	_, err := b.Semaphore("report-jobs", 3).TryAcquire(ctx)
	fmt.Println(errors.Is(err, tooz.ErrLimitMismatch))
	// Output:
	// second permit: true
	// third permit: false
	// holders: [worker-1 worker-2]
	// true
}

func ExampleRWLock() {
	ctx := context.Background()
	a, _ := tooz.Open(ctx, "memory://example-rwlock", "reader-1")
	defer a.Close(ctx)
	b, _ := tooz.Open(ctx, "memory://example-rwlock", "migrator")
	defer b.Close(ctx)

	schema := a.RWLock("schema")
	if err := schema.AcquireShared(ctx); err != nil { // many readers at once
		fmt.Println(err)
		return
	}
	migration := b.RWLock("schema")
	ok, _ := migration.TryAcquire(ctx) // the exclusive side waits for readers
	fmt.Println("migrator while read:", ok)

	_ = schema.Release(ctx)
	if err := migration.Acquire(ctx); err != nil {
		fmt.Println(err)
		return
	}
	// Pass the token with every write: the store refuses older writers.
	fmt.Println("migrator holds:", migration.Held(), migration.FencingToken() > 0)
	ok, _ = schema.TryAcquireShared(ctx)
	fmt.Println("reader while migrating:", ok)
	_ = migration.Release(ctx)
	// Output:
	// migrator while read: false
	// migrator holds: true true
	// reader while migrating: false
}
