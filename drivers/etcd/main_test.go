// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves goroutines behind: watches,
// waiters, background withdrawals and clients must all end with Close,
// Abandon or a stop function. The test server's process spawner lives for
// the whole test binary by design.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/toozgo/tooz/internal/testserver.spawn.func1.1"))
}
