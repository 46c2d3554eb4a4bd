// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package bench measures tooz against the raw Go client of each backend,
// side by side on the same real server in the same run, so that the ratio
// holds on a noisy machine: a raw round trip, the uncontended lock cycle,
// contended locks, leader failover, membership event latency and scale.
//
// The suite is a test (TestBench) because it starts its servers with
// internal/testserver. Without settings it runs the short tier, every
// measurement once with tiny counts, and asserts only that each completed:
//
//	go test -count=1 -run TestBench ./bench/
//
// TOOZ_BENCH=full runs the full tier, and TOOZ_BENCH_OUT=file writes the
// result tables as Markdown; scripts/bench.sh does both and regenerates
// BENCHMARKS.md. TOOZ_BENCH_BACKENDS=etcd,redis limits the backends, and
// TOOZ_BENCH=off skips the suite (it runs in "go test ./..." otherwise).
package bench
