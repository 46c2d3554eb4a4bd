// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build race

package faults

// raceEnabled makes the test build the workload with -race too.
const raceEnabled = true
