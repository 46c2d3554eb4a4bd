// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner_test

import (
	"context"
	"fmt"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
	"github.com/toozgo/tooz/partitioner"
)

// A leader follows the "workers" group without taking work, and hands out
// jobs once membership has settled; three workers, one of double weight,
// each check which jobs are theirs.
func Example() {
	ctx := context.Background()
	const url = "memory://example-partitioner"

	jobs := make([]string, 300)
	for i := range jobs {
		jobs[i] = fmt.Sprintf("job-%d", i)
	}
	leaderC, _ := tooz.Open(ctx, url, "leader")
	defer leaderC.Close(ctx)
	settled := make(chan partitioner.Rebalance, 10)
	leader, err := partitioner.New(ctx, leaderC, "workers",
		partitioner.WithoutJoin(),
		partitioner.WithRebalance(100*time.Millisecond,
			func() []string { return jobs },
			func(rb partitioner.Rebalance) { settled <- rb }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer leader.Stop(ctx)

	var workers []*partitioner.Partitioner
	for i, weight := range []int{1, 1, 2} {
		c, _ := tooz.Open(ctx, url, fmt.Sprintf("worker-%d", i))
		defer c.Close(ctx)
		w, err := partitioner.New(ctx, c, "workers", partitioner.WithWeight(weight))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer w.Stop(ctx)
		workers = append(workers, w)
	}

	// Wait for the leader to see the three workers settle.
	rb := <-settled
	for len(rb.Members) < 3 {
		rb = <-settled
	}
	for _, m := range rb.Members {
		fmt.Printf("%s: %d jobs\n", m, len(rb.New[m]))
	}
	// The last worker to start knew the whole group when New returned.
	fmt.Println("job-7 belongs to", workers[2].MembersFor("job-7", 1))
	fmt.Println("worker-2 runs job-7:", workers[2].BelongsToSelf("job-7"))
	// Output:
	// worker-0: 70 jobs
	// worker-1: 68 jobs
	// worker-2: 162 jobs
	// job-7 belongs to [worker-2]
	// worker-2 runs job-7: true
}

func ExampleHashRing() {
	r := partitioner.NewHashRing(0)
	_ = r.Add("node-a", 1)
	_ = r.Add("node-b", 1)
	_ = r.Add("node-c", 2)
	fmt.Println(r.Get("user:4", 2))
	// Ignoring a node answers as if it had left the ring.
	fmt.Println(r.Get("user:4", 2, "node-b"))
	fmt.Println(r.Remove("node-z"))
	// Output:
	// [node-b node-a]
	// [node-a node-c]
	// partitioner: unknown node: "node-z"
}
