// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/toozgo/tooz/faults/history"
	"github.com/toozgo/tooz/faults/nemesis"
)

// fullTTL is the liveness timeout of the full matrix.
const fullTTL = 2 * time.Second

// TestFull is the full matrix, run when TOOZ_FAULTS=full (scripts/faults.sh):
// on every backend configuration, TOOZ_FAULTS_ROUNDS rounds (default 2) of
// every fault, each aimed at the current lock holder or leader: client
// frozen past the TTL (lock holder, then leader), client cut off from the
// backend's host past the expiry bound by its network namespace's firewall
// (lock holder with dropped packets, leader with rejected ones), client's
// link slowed by TTL/4 each way past the expiry bound (lock holder, then
// leader), client killed
// (lock holder, then leader), backend killed and restarted, backend frozen past
// the TTL, lock or session revoked out of band through the backend's own
// client (lock holder, then leader; revoke_test.go). TOOZ_FAULTS_BACKENDS (comma-separated) narrows the backends.
func TestFull(t *testing.T) {
	if os.Getenv("TOOZ_FAULTS") != "full" {
		t.Skip("the full fault matrix runs with TOOZ_FAULTS=full (scripts/faults.sh)")
	}
	rounds := 2
	if v, err := strconv.Atoi(os.Getenv("TOOZ_FAULTS_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	names := []string{"etcd", "redis", "redis-aof", "zookeeper", "consul", "consul-persistent", "kubernetes"}
	if v := os.Getenv("TOOZ_FAULTS_BACKENDS"); v != "" {
		names = splitComma(v)
	}
	for _, name := range names {
		if _, ok := clusterBackends[name]; ok {
			continue // TestFullCluster's
		}
		spec, ok := backends[name]
		if !ok {
			t.Fatalf("unknown backend %q", name)
		}
		t.Run(name, func(t *testing.T) {
			r := newRun(t, spec, fullTTL, 3)
			r.waitFor("every process sees all three members", 60*time.Second, func(recs []history.Rec) bool {
				return converged(recs, r.live())
			})
			for range rounds {
				r.pauseHolder(history.FLock, lockRes)
				r.pauseHolder(history.FLead, leadRes)
				r.cutHolder(history.FLock, lockRes, nemesis.Drop)
				r.cutHolder(history.FLead, leadRes, nemesis.Reject)
				r.slowHolder(history.FLock, lockRes)
				r.slowHolder(history.FLead, leadRes)
				r.killHolder(history.FLock, lockRes)
				r.killHolder(history.FLead, leadRes)
				r.killBackend()
				r.pauseBackend()
				r.revokeHolder(history.FLock, lockRes, false)
				r.revokeHolder(history.FLead, leadRes, false)
			}
			r.finish()
		})
	}
}
