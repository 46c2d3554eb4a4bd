// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// testTimeout is the liveness timeout of the tests' coordinators.
const testTimeout = 2 * time.Second

// TestConformance runs the whole suite against a real redis-server.
func TestConformance(t *testing.T) {
	s := testserver.StartRedis(t)
	conformance.Run(t, harness{conformance.URLHarness{
		URL:             "redis://" + s.Addr + "/0?namespace=" + testutil.Unique("conf"),
		LivenessTimeout: testTimeout,
	}, raw(t, s)})
}

// harness adds conformance.HistoryBreaker to the URL harness.
type harness struct {
	conformance.URLHarness
	raw *goredis.Client
}

// BreakHistory implements conformance.HistoryBreaker: c's subscriptions
// are held back and every pub/sub connection is killed, so what during
// changes is published to nobody; the watches must list again.
func (h harness) BreakHistory(ctx context.Context, t *testing.T, c *tooz.Coordinator, during func() error) error {
	d := driverOf(t, c)
	hold := make(chan struct{})
	d.testHoldReads.Store(&hold)
	defer func() {
		d.testHoldReads.Store(nil)
		close(hold)
	}()
	if n, err := h.raw.ClientKillByFilter(ctx, "TYPE", "pubsub").Result(); err != nil || n == 0 {
		return fmt.Errorf("CLIENT KILL TYPE pubsub: %d, %v", n, err)
	}
	return during()
}
