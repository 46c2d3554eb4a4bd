// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"testing"

	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
)

// TestClusterConformance runs the whole suite through a client agent of a
// real three-server Consul datacenter, the production topology: the
// agent forwards every request to the Raft leader among the servers.
func TestClusterConformance(t *testing.T) {
	c := testserver.StartConsulCluster(t, 3)
	conformance.Run(t, newHarness(c.Agent, ""))
}
