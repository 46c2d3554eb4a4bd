// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package memory

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves goroutines behind (the
// conformance suite included): everything must end with Close or a stop
// function.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
