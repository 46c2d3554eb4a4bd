// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"testing"

	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestSentinelConformance runs the whole suite through three real
// sentinels (redis+sentinel) in front of a master and its replica.
func TestSentinelConformance(t *testing.T) {
	r := testserver.StartRedisSentinel(t)
	conformance.Run(t, conformance.URLHarness{
		URL: "redis+sentinel://" + r.Addrs() + "/0?master=" + testserver.SentinelMaster +
			"&namespace=" + testutil.Unique("sentinel"),
		LivenessTimeout: testTimeout,
	})
}

// TestClusterConformance runs the whole suite on a real Redis Cluster of
// three masters and three replicas (several hosts in the URL).
func TestClusterConformance(t *testing.T) {
	r := testserver.StartRedisCluster(t)
	conformance.Run(t, conformance.URLHarness{
		URL:             "redis://" + r.Addrs() + "/?namespace=" + testutil.Unique("cluster"),
		LivenessTimeout: testTimeout,
	})
}
