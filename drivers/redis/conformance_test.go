// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"testing"
	"time"

	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// testTimeout is the liveness timeout of the tests' coordinators.
const testTimeout = 2 * time.Second

// TestConformance runs the whole suite against a real redis-server.
func TestConformance(t *testing.T) {
	s := testserver.StartRedis(t)
	conformance.Run(t, conformance.URLHarness{
		URL:             "redis://" + s.Addr + "/0?namespace=" + testutil.Unique("conf"),
		LivenessTimeout: testTimeout,
	})
}
