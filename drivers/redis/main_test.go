// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves goroutines behind: watches,
// waiters, timers and clients must all end with Close, Abandon or a stop
// function.
func TestMain(m *testing.M) {
	// internal/testserver starts every server from one goroutine locked to
	// its thread for the life of the test binary (Pdeathsig), by design.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/toozgo/tooz/internal/testserver.spawn.func1.1"),
		// go-redis probes a node it could not dial once a second from a
		// goroutine that sees its pool closed only when it wakes: up to
		// 1 s after Close, once a test has killed a Redis node.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
