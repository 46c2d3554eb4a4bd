// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when goroutines outlive them: the
// driver's watches, contenders and background work, and the clients of
// closed sessions, must all end.
func TestMain(m *testing.M) {
	// The test server helper keeps one goroutine on a locked thread for the
	// life of the binary (its children die with that thread).
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/toozgo/tooz/internal/testserver.spawn.func1.1"))
}
