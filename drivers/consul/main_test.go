// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves goroutines behind: session
// monitors, watches and waiters must all end with Close, Abandon or a stop
// function. The test servers' spawner goroutine lives as long as the test
// binary, by design (see internal/testserver.spawn).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/toozgo/tooz/internal/testserver.spawn.func1.1"))
}
