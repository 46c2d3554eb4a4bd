// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package partitioner spreads work over the members of a tooz group with
// consistent hashing, as OpenStack tooz's hashring and partitioner modules
// do, and tells a leader when membership has settled so that it can hand
// work out without thrashing while members come and go.
//
// HashRing is the ring on its own: weighted nodes, deterministic placement
// (the same in every process, on every platform), lock-free lookups.
//
// Partitioner binds a HashRing to a group: it joins the group with its
// weight in its capabilities, follows membership through the events the
// backend pushes, and answers which members a key belongs to. Every member
// running a Partitioner with the same settings computes the same owner for
// every key once they have seen the same membership. With WithRebalance it
// also calls back, once membership has been stable for a soak period, with
// how a set of work items moved between members.
//
//	p, err := partitioner.New(ctx, c, "workers", partitioner.WithWeight(2))
//	defer p.Stop(ctx)
//	if p.BelongsToSelf(jobID) {
//		run(jobID)
//	}
//
// # Placement
//
// Where keys land is part of the package's contract: every process, on
// every platform and Go version, computes the same owners for the same
// nodes, weights and points per weight, so members that see the same
// membership agree, and placement never changes from one release to the
// next (a change would move keys between owners across a rolling upgrade).
// In full, so that it can be implemented elsewhere:
//
//   - H(s) = fmix64(FNV-1a-64(s)) over the bytes of a string: FNV-1a 64
//     followed by MurmurHash3's fmix64 finalizer. FNV-1a alone mixes keys
//     that differ only at the end ("item-1", "item-2") poorly into the high
//     bits, by which the ring is searched; fmix64 is a bijection with full
//     avalanche, so it keeps FNV-1a's collision behaviour and spreads every
//     input bit over the word.
//   - SM(seed, i), i = 0, 1, ..., is the i-th output of SplitMix64 seeded
//     with seed: its finalizer applied to seed + (i+1)·0x9E3779B97F4A7C15.
//   - A node n of weight w has the points SM(H(n), i) for i < w·P, P being
//     the points per unit of weight. Changing a node's weight keeps its
//     first points and so moves only the keys the difference requires.
//   - A point's position is its top 44 bits (the value with its low 20 bits
//     cleared). Points are ordered by position, then by node name (bytes).
//   - A key k has 3 probes, the positions of SM(H(k) XOR 0x5BD1E9955BD1E995, j)
//     for j = 0, 1, 2 (the XOR keeps a key equal to a node name off that
//     node's points). Each probe's successor is the first point at or after
//     it, wrapping round to the first point; the key belongs to the successor
//     closest to its probe (clockwise distance modulo 2^64), the earliest
//     probe winning a tie. This is multi-probe consistent hashing (Appleton
//     and O'Reilly, 2015): the best of three probes evens out the luck of
//     long and short arcs, so 256 points per node balance better than 512
//     points with a single probe, while keys still move only to a node that
//     joins or from one that leaves.
//   - Replicas are the next distinct nodes in point order after the key's
//     point. Ignored nodes' points are skipped everywhere, probes included,
//     so ignoring nodes answers exactly as the ring without them would.
package partitioner
