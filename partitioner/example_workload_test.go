// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/partitioner"
)

// The pattern of VOLTHA's Consul coordinator on any backend: cores are
// members of a group, the workload (devices) is kept in the key/value
// namespace, and the elected leader reassigns devices once membership or
// the workload has been stable for a soak period, publishing each core's
// devices under owners/CORE. A new leader starts from the stored
// assignment: after a failover, only the old leader's devices move.
func Example_workload() {
	ctx := context.Background()
	const url = "memory://example-workload"
	core := func(id string) (*tooz.Coordinator, *partitioner.Partitioner) {
		c, _ := tooz.Open(ctx, url, id)
		p, _ := partitioner.New(ctx, c, "cores") // a member: part of the ring
		return c, p
	}
	// lead campaigns for the group and, once elected, rebalances.
	lead := func(c *tooz.Coordinator, settled chan<- partitioner.Rebalance) *partitioner.Partitioner {
		if _, err := c.Campaign(ctx, "cores"); err != nil {
			fmt.Println(err)
			return nil
		}
		r, _ := partitioner.New(ctx, c, "cores", partitioner.WithoutJoin(),
			partitioner.WithWorkPrefix("devices/"), partitioner.WithAssignmentKey("assignment"),
			partitioner.WithRebalance(50*time.Millisecond, nil, func(rb partitioner.Rebalance) {
				for m, devices := range rb.New {
					_, _ = c.KV().Put(ctx, "owners/"+m, []byte(strings.Join(devices, " ")))
				}
				settled <- rb
			}))
		return r
	}
	c1, p1 := core("core-1")
	c2, p2 := core("core-2")
	c3, p3 := core("core-3")
	defer c2.Close(ctx)
	defer c3.Close(ctx)
	for i := range 9 {
		_, _ = c1.KV().Put(ctx, fmt.Sprintf("devices/olt-%d", i), []byte(`{"type":"olt"}`))
	}
	settled := make(chan partitioner.Rebalance, 10)
	r1 := lead(c1, settled)
	rb := <-settled
	fmt.Println("core-1 leads:", len(rb.New["core-1"]), len(rb.New["core-2"]), len(rb.New["core-3"]), "devices")

	// The workload grows: one rebalance after the soak, one device added.
	_, _ = c3.KV().Put(ctx, "devices/olt-9", []byte(`{"type":"olt"}`))
	rb = <-settled
	for m, added := range rb.Added {
		fmt.Println("added to", m+":", added)
	}

	// core-1 goes once that assignment is stored (it is, after the
	// function returns; a leader stopped before leaves the previous one,
	// and the next leader is told of those moves again); core-2 is
	// elected and moves only core-1's devices.
	stored := make(chan struct{})
	var once sync.Once
	w, err := c3.KV().Watch(ctx, "assignment", func(e tooz.KeyEvent) {
		for _, kv := range append([]tooz.KeyValue{e.KeyValue}, e.Keys...) { // a put, or the listing
			if kv.Key == "assignment" && strings.Contains(string(kv.Value), "olt-9") {
				once.Do(func() { close(stored) })
			}
		}
	})
	if err != nil {
		fmt.Println("watch the assignment:", err)
		return
	}
	select {
	case <-stored:
	case <-time.After(time.Minute):
		fmt.Println("the assignment with olt-9 was not stored within a minute")
	}
	w.Stop()
	owned := len(rb.New["core-1"])
	_ = r1.Stop(ctx)
	_ = p1.Stop(ctx)
	_ = c1.Close(ctx)
	defer lead(c2, settled).Stop(ctx)
	rb = <-settled
	moved := len(rb.Added["core-2"]) + len(rb.Added["core-3"])
	fmt.Println("core-2 leads; devices moved:", moved, "of", owned+len(rb.Old["core-2"])+len(rb.Old["core-3"]),
		"(core-1 had", owned, "then)")
	mine, _ := c3.KV().Get(ctx, "owners/core-3")
	fmt.Println("core-3 runs:", len(strings.Fields(string(mine.Value))), "devices")
	_, _ = p2.Stop(ctx), p3.Stop(ctx)
	// Output:
	// core-1 leads: 3 4 2 devices
	// added to core-3: [olt-9]
	// core-2 leads; devices moved: 3 of 10 (core-1 had 3 then)
	// core-3 runs: 4 devices
}
