// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package faults is tooz's fault suite: it runs a workload of several OS
// processes (faults/workload) against a real backend, injects faults aimed
// at the current lock holder or leader (faults/nemesis), records what every
// process did and saw (faults/history) and checks the histories for safety
// and liveness violations (faults/checker).
//
// `go test -race ./faults/` runs the smoke tier: every server backend with
// one or two faults. TOOZ_FAULTS=full (scripts/faults.sh) runs the full
// matrix. See RELIABILITY.md for what each backend guarantees and the
// results of the last full run.
package faults
