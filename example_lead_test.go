// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"fmt"
	"time"

	"github.com/toozgo/tooz"
)

// Lead runs the leader's work with a context that ends with the
// leadership, and campaigns again after a loss or a stand-down.
func ExampleCoordinator_Lead() {
	ctx, stop := context.WithCancel(context.Background())
	c, _ := tooz.Open(ctx, "memory://example-lead?timeout=500ms", "scheduler-1")
	defer c.Close(context.Background())

	terms := 0
	err := c.Lead(ctx, "schedulers", func(lctx context.Context) error {
		terms++
		fmt.Println("leading, term", terms)
		if terms == 1 {
			// Yield: another scheduler takes over if one waits; this one
			// campaigns again once one has led, or nobody did for a
			// liveness timeout (here: it is alone).
			_ = c.StandDown(ctx, "schedulers", tooz.HoldOff(10*time.Millisecond))
		} else {
			stop() // the service shuts down
		}
		<-lctx.Done() // schedule work until the leadership or the service ends
		fmt.Println("term", terms, "ended:", context.Cause(lctx))
		return nil
	})
	fmt.Println("Lead returned", err)
	// Output:
	// leading, term 1
	// term 1 ended: not the leader
	// leading, term 2
	// term 2 ended: context canceled
	// Lead returned <nil>
}

// A ranked election: the highest-priority candidate leads, and one that
// preempts takes over from a lower leader, whose Lost closes first.
func ExamplePriority() {
	ctx := context.Background()
	standby, _ := tooz.Open(ctx, "memory://example-priority", "standby-node")
	defer standby.Close(ctx)
	primary, _ := tooz.Open(ctx, "memory://example-priority", "primary-node")
	defer primary.Close(ctx)

	low, _ := standby.Campaign(ctx, "db", tooz.Priority(1))
	lowToken := low.FencingToken()
	fmt.Println("leader: standby-node, token", lowToken)

	high, err := primary.Campaign(ctx, "db", tooz.Priority(2), tooz.Preempt())
	if err != nil {
		fmt.Println(err)
		return
	}
	<-low.Lost() // closed before the primary was elected
	fmt.Println("standby-node lost:", low.Err())
	fmt.Println("leader: primary-node, newer token:", high.FencingToken() > lowToken)
	// Output:
	// leader: standby-node, token 1
	// standby-node lost: <nil>
	// leader: primary-node, newer token: true
}
