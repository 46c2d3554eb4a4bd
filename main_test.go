// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves goroutines behind: candidacies,
// ranked campaigns, Lead loops, watches and holdings must all end with
// Close or their stop functions.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
