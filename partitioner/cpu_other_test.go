// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package partitioner_test

import "testing"

// cpuPerOp reports nothing where the process CPU time is not at hand.
func cpuPerOp(*testing.B) func() { return func() {} }
