// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"testing"
	"time"

	"github.com/toozgo/tooz/faults/history"
	"github.com/toozgo/tooz/faults/nemesis"
)

// smokeTTL is short, so that the whole smoke tier stays within a few minutes.
const smokeTTL = 2 * time.Second

// TestSmoke runs three workload processes on every server backend and
// injects the faults that matter most: the lock holder frozen past its
// TTL (the stale writer must be fenced off and must see Lost()), the
// leader cut off from the backend by the firewall of its own network
// namespace (it runs on, so it must see Lost() before anyone else leads: no
// overlap at all), and the leader killed (another candidate must take over
// within the bound). On Redis without persistence the server is also
// killed and restarted: the fencing tokens must keep growing although the
// counter is gone. On Kubernetes the API server is killed and restarted
// (its etcd goes on): every session expires by the clock meanwhile, and
// the locks must still never overlap.
func TestSmoke(t *testing.T) {
	for _, name := range []string{"etcd", "redis", "zookeeper", "consul", "kubernetes"} {
		t.Run(name, func(t *testing.T) {
			r := newRun(t, backends[name], smokeTTL, 3)
			r.waitFor("every process sees all three members", 60*time.Second, func(recs []history.Rec) bool {
				return converged(recs, r.live())
			})
			r.pauseHolder(history.FLock, lockRes)
			r.cutHolder(history.FLead, leadRes, nemesis.Drop)
			r.killHolder(history.FLead, leadRes)
			if name == "redis" || name == "kubernetes" {
				r.killBackend()
			}
			r.finish()
		})
	}
}

// TestSmokeCluster runs the workload on a 3-node etcd cluster, each node in
// its own network namespace, and takes away first the Raft leader (killed,
// then restarted: the holders keep their locks, since a new leader renews
// every lease) and then the quorum (both followers cut off past the TTL:
// every holder must see Lost() within TTL + slack, and the lock changes
// hands once the quorum is back). etcd declares Linearizable, so any
// overlap fails. TestFullCluster adds ZooKeeper and the isolated leader.
func TestSmokeCluster(t *testing.T) {
	r := newRun(t, clusterBackends["etcd-cluster"], smokeTTL, 3)
	r.waitFor("every process sees all three members", 60*time.Second, func(recs []history.Rec) bool {
		return converged(recs, r.live())
	})
	r.killLeaderNode()
	r.loseQuorum()
	r.finish()
}
