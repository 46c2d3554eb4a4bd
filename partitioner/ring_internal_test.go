// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRebuildMatchesBuild: the incremental rebuild (merging changed nodes'
// points into the current ring) gives exactly the ring a full build gives,
// through a random walk of joins, leaves and re-weightings.
func TestRebuildMatchesBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ppw := range []int{1, 3, 64} {
		nodes := map[string]int{}
		cur := emptyRing
		for step := range 300 {
			next := maps.Clone(nodes)
			switch op := rng.IntN(4); {
			case op == 0 && len(next) > 0: // leave
				delete(next, slices.Sorted(maps.Keys(next))[rng.IntN(len(next))])
			case op == 1 && len(next) > 0: // re-weight
				next[slices.Sorted(maps.Keys(next))[rng.IntN(len(next))]] = 1 + rng.IntN(4)
			default: // join, sometimes several at once
				for range 1 + rng.IntN(2) {
					next[fmt.Sprintf("node-%d", rng.IntN(1000))] = 1 + rng.IntN(4)
				}
			}
			want, err := build(ppw, next)
			if err != nil {
				t.Fatal(err)
			}
			merged, err := merge(cur, ppw, next)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rebuild(cur, ppw, next)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range []*ring{merged, got} {
				if !slices.Equal(g.names, want.names) || !slices.Equal(g.weights, want.weights) ||
					!slices.Equal(g.points, want.points) || !slices.Equal(g.table, want.table) || g.shift != want.shift {
					t.Fatalf("ppw %d step %d: merged ring differs from the built one for %v", ppw, step, next)
				}
			}
			nodes, cur = next, got
		}
	}
}
