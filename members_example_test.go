// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"fmt"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

func ExampleCoordinator_WatchMembers() {
	ctx := context.Background()
	leader, _ := tooz.Open(ctx, "memory://example-members", "leader")
	defer leader.Close(ctx)
	worker, _ := tooz.Open(ctx, "memory://example-members", "worker-1")
	defer worker.Close(ctx)
	_ = worker.JoinGroupCreate(ctx, "workers", []byte("slots=2"))

	// The first event is the whole group, then every change after it:
	// the leader's view is never stale and never misses a change.
	events := make(chan tooz.MembershipEvent, 8)
	w, err := leader.WatchMembers(ctx, "workers", func(e tooz.MembershipEvent) { events <- e })
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()
	_ = worker.UpdateCapabilities(ctx, "workers", []byte("slots=4"))
	_ = worker.LeaveGroup(ctx, "workers")
	for range 3 {
		e := <-events
		switch e.Kind {
		case tooz.MembershipSnapshot:
			for _, m := range e.Members {
				fmt.Printf("snapshot: %s %s\n", m.ID, m.Capabilities)
			}
		case tooz.MembershipLeft:
			fmt.Printf("%s: %s\n", e.Kind, e.Member.ID)
		default:
			fmt.Printf("%s: %s %s\n", e.Kind, e.Member.ID, e.Member.Capabilities)
		}
	}
	// Output:
	// snapshot: worker-1 slots=2
	// updated: worker-1 slots=4
	// left: worker-1
}

func ExampleCoordinator_JoinGroup_restart() {
	ctx := context.Background()
	url := "memory://example-restart?timeout=200ms"
	first, _ := tooz.Open(ctx, url, "worker-1")
	_ = first.JoinGroupCreate(ctx, "workers", nil)
	_ = first.Abandon() // the process crashed: its membership stays until the timeout

	// The restarted process, with the same member ID, waits for the old
	// membership to expire instead of failing; TryJoinGroup would fail.
	again, _ := tooz.Open(ctx, url, "worker-1")
	defer again.Close(ctx)
	fmt.Println(again.TryJoinGroup(ctx, "workers", nil) != nil)
	jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fmt.Println(again.JoinGroup(jctx, "workers", nil))
	// Output:
	// true
	// <nil>
}
