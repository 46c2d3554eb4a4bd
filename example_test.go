// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

func ExampleOpen() {
	ctx := context.Background()
	// The URL picks the backend: etcd://, redis://, zookeeper://, consul://,
	// file:///dir or memory://name. Options ride in the query.
	c, err := tooz.Open(ctx, "memory://example-open?timeout=5s", "worker-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	fmt.Println(c.MemberID(), c.Timeout())

	_, err = tooz.Open(ctx, "memory://example-open?timout=5s", "worker-2")
	fmt.Println(errors.Is(err, tooz.ErrInvalidURL))
	// Output:
	// worker-1 5s
	// true
}

func ExampleCoordinator_WatchJoinGroup() {
	ctx := context.Background()
	watcher, _ := tooz.Open(ctx, "memory://example-watch", "watcher")
	defer watcher.Close(ctx)
	worker, _ := tooz.Open(ctx, "memory://example-watch", "worker-7")
	defer worker.Close(ctx)

	joined := make(chan tooz.MemberJoined, 1)
	w, err := watcher.WatchJoinGroup(ctx, "workers", func(e tooz.MemberJoined) { joined <- e })
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()

	if err := worker.JoinGroupCreate(ctx, "workers", []byte(`{"zone":"a"}`)); err != nil {
		fmt.Println(err)
		return
	}
	e := <-joined
	caps, _ := watcher.MemberCapabilities(ctx, "workers", e.Member)
	fmt.Printf("%s joined %s with %s\n", e.Member, e.Group, caps)
	// Output:
	// worker-7 joined workers with {"zone":"a"}
}

func ExampleLock() {
	ctx := context.Background()
	c, _ := tooz.Open(ctx, "memory://example-lock", "worker-1")
	defer c.Close(ctx)

	l := c.Lock("nightly-report")
	// The context's deadline is how long to wait for the lock.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.Acquire(wctx); err != nil {
		fmt.Println("not acquired:", errors.Is(err, tooz.ErrNotAcquired))
		return
	}
	defer l.Release(ctx)

	// Hand the token to the storage you write: it rejects stale holders.
	fmt.Println("token", l.FencingToken())
	select {
	case <-l.Lost():
		fmt.Println("lost: stop writing")
	default:
		fmt.Println("still held")
	}

	// Another handle, even on the same coordinator, is excluded.
	ok, _ := c.Lock("nightly-report").TryAcquire(ctx)
	fmt.Println("second handle acquired:", ok)
	// Output:
	// token 1
	// still held
	// second handle acquired: false
}

func ExampleCoordinator_Campaign() {
	ctx := context.Background()
	c, _ := tooz.Open(ctx, "memory://example-campaign", "scheduler-1")
	defer c.Close(ctx)

	lead, err := c.Campaign(ctx, "schedulers") // blocks until elected
	if err != nil {
		fmt.Println(err)
		return
	}
	leader, _ := c.Leader(ctx, "schedulers")
	fmt.Println("leader:", leader)

	go func() {
		<-lead.Lost() // closed on Resign, StandDown, Close or loss
	}()
	if err := lead.Resign(ctx); err != nil {
		fmt.Println(err)
	}
	_, err = c.Leader(ctx, "schedulers")
	fmt.Println(errors.Is(err, tooz.ErrNoLeader))
	// Output:
	// leader: scheduler-1
	// true
}

func ExampleCoordinator_WatchElectedAsLeader() {
	ctx := context.Background()
	c, _ := tooz.Open(ctx, "memory://example-elected", "scheduler-1")
	defer c.Close(ctx)

	elected := make(chan tooz.ElectedAsLeader, 1)
	// Registering the hook makes this member a candidate.
	w, _ := c.WatchElectedAsLeader(ctx, "schedulers", func(e tooz.ElectedAsLeader) { elected <- e })
	defer w.Stop()
	e := <-elected
	fmt.Println(e.Member, "leads", e.Group)
	// Output:
	// scheduler-1 leads schedulers
}
