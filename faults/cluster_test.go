// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz/faults/checker"
	"github.com/toozgo/tooz/faults/history"
	"github.com/toozgo/tooz/faults/nemesis"
	"github.com/toozgo/tooz/internal/netlab"
	"github.com/toozgo/tooz/internal/testserver"
)

// clusterNodes is the size of the replicated backends: the smallest that
// survives the loss of one node.
const clusterNodes = 3

// clusterHold makes the critical sections of the cluster runs longer than
// the TTL (2s), so that the holder aimed at is still inside its section
// when its session must end (a quorum loss), instead of leaving it on its
// own first.
var clusterHold = []string{"-hold-min", "2500ms", "-hold-max", "4s"}

// clusterBackends are the replicated backends of TestFullCluster.
var clusterBackends = map[string]backendSpec{
	"etcd-cluster": {
		name: "etcd-cluster",
		startCluster: func(t *testing.T, lab *netlab.Lab) *testserver.Cluster {
			return testserver.StartEtcdCluster(t, clusterNodes, testserver.WithNoFsync(), testserver.InHosts(labHosts(lab)...))
		},
		url:          backends["etcd"].url,
		expiryFactor: 1,
		workloadArgs: clusterHold,
	},
	"zookeeper-cluster": {
		name: "zookeeper-cluster",
		startCluster: func(t *testing.T, lab *netlab.Lab) *testserver.Cluster {
			return testserver.StartZooKeeperEnsemble(t, clusterNodes, testserver.WithNoFsync(), testserver.InHosts(labHosts(lab)...))
		},
		url:          backends["zookeeper"].url,
		expiryFactor: 1,
		workloadArgs: clusterHold,
	},
}

// TestFullCluster runs the workload on a 3-node etcd cluster and a 3-node
// ZooKeeper ensemble (TOOZ_FAULTS=full; TOOZ_FAULTS_BACKENDS narrows it
// to the names given, among "etcd-cluster" and "zookeeper-cluster") and
// hits the cluster where it hurts, once each:
//
//   - the leader node killed with SIGKILL, restarted TTL + slack later: the
//     others elect a new leader, the clients fail over, and the lock and
//     leadership go on changing hands with no overlap;
//   - the leader node isolated from its peers and its clients for 20s
//     (longer than TTL + slack), then healed: the lock and the leadership
//     must change hands within 18s, during the isolation, since a
//     majority serves;
//   - quorum loss: two of the three nodes isolated for TTL + slack + 1s:
//     nobody can be served, so every holder must see Lost() within TTL +
//     slack, and the lock is taken again once the quorum is back;
//   - the lock holder's process killed: another takes over within the
//     expiry bound, as on a single server.
//
// Each fault is recorded in the history (checker.KillNode, IsolateNode,
// QuorumLoss, KillClient) and checked like the rest of the suite; the log
// shows, per fault, the new leader's election time, when each holder saw
// Lost() and when the lock and the leadership were next taken.
func TestFullCluster(t *testing.T) {
	if os.Getenv("TOOZ_FAULTS") != "full" {
		t.Skip("the cluster fault tests run with TOOZ_FAULTS=full (scripts/faults.sh)")
	}
	names := []string{"etcd-cluster", "zookeeper-cluster"}
	if v := os.Getenv("TOOZ_FAULTS_BACKENDS"); v != "" {
		names = nil
		for _, n := range splitComma(v) {
			if _, ok := clusterBackends[n]; ok {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			t.Skip("TOOZ_FAULTS_BACKENDS names no cluster backend")
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			r := newRun(t, clusterBackends[name], fullTTL, 3)
			r.waitFor("every process sees all three members", 60*time.Second, func(recs []history.Rec) bool {
				return converged(recs, r.live())
			})
			r.killLeaderNode()
			r.isolateLeaderNode()
			r.loseQuorum()
			r.killHolder(history.FLock, lockRes)
			r.finish()
		})
	}
}

// leader returns the index of the cluster's current leader node, waiting
// for one if need be (and recording Stuck when none comes).
func (r *run) leader() int {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := r.cluster.WaitLeader(ctx)
	if err != nil {
		r.hist.Add(history.Rec{Type: history.Process, F: checker.Stuck, Proc: "test", Note: err.Error()})
		r.t.Logf("faults: %v", err)
		return -1
	}
	return l
}

// electedAfter waits, while a fault runs, for a leader other than old and
// logs how long after began it came.
func (r *run) electedAfter(began time.Time, old int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := r.cluster.WaitLeader(ctx, old)
	if err != nil {
		r.t.Logf("faults: no new leader while %s is out: %v", r.cluster.Nodes[old].Name, err)
		return
	}
	r.t.Logf("faults: measured: %s elected leader %v after the fault began", r.cluster.Nodes[l].Name, time.Since(began).Round(time.Millisecond))
}

// killLeaderNode kills the leader node with SIGKILL and restarts it TTL +
// slack later.
func (r *run) killLeaderNode() {
	l := r.aimAtLeader()
	if l < 0 {
		return
	}
	node := r.cluster.Nodes[l]
	d := r.ttl + r.slack
	r.t.Logf("faults: killing leader node %s for %v", node.Name, d)
	t0, began := history.Now(), time.Now()
	done := make(chan error, 1)
	go func() { done <- r.nem.KillNode(node.Name, node, d, "leader") }()
	r.electedAfter(began, l)
	if err := <-done; err != nil {
		r.t.Fatal(err)
	}
	r.afterNodeFault(checker.KillNode, t0)
}

// isolationProgress is how long into the isolation of the leader node the
// lock and the leadership must have changed hands, although the clients'
// connections to the silent node stay open: etcd's client only drops one
// after gRPC's keepalive (10s of silence, its minimum, plus the TTL), and
// until then every third request hangs on it.
const isolationProgress = 18 * time.Second

// isolateLeaderNode cuts the leader node off from its peers and clients
// for longer than TTL + slack, long enough for the clients to fail over
// (isolationProgress), which they must do while it lasts.
func (r *run) isolateLeaderNode() {
	l := r.aimAtLeader()
	if l < 0 {
		return
	}
	node := r.cluster.Nodes[l]
	d := max(r.ttl+r.slack+time.Second, isolationProgress+2*time.Second)
	r.t.Logf("faults: isolating leader node %s for %v", node.Name, d)
	t0, began := history.Now(), time.Now()
	done := make(chan error, 1)
	go func() { done <- r.nem.IsolateNode(node.Name, r.isolation(l), d, "leader") }()
	r.electedAfter(began, l)
	// A majority serves: the clients must get away from the silent node
	// and the lock and leadership must change hands before the heal.
	r.waitFor("lock and leadership taken while the leader node is cut off", isolationProgress-time.Since(began), func(recs []history.Rec) bool {
		return entered(history.FLock, lockRes, "", t0)(recs) && entered(history.FLead, leadRes, "", t0)(recs)
	})
	r.t.Logf("faults: measured: lock and leadership taken %v into the isolation", time.Since(began).Round(time.Millisecond))
	if err := <-done; err != nil {
		r.t.Fatal(err)
	}
	r.afterNodeFault(checker.IsolateNode, t0)
}

// loseQuorum isolates the two followers for TTL + slack + 1s: the leader
// is left alone without a quorum.
func (r *run) loseQuorum() {
	l := r.aimAtLeader()
	if l < 0 {
		return
	}
	var (
		names []string
		down  []nemesis.Isolation
	)
	for i, n := range r.cluster.Nodes {
		if i != l && len(down) < len(r.cluster.Nodes)-r.cluster.Quorum()+1 {
			names = append(names, n.Name)
			down = append(down, r.isolation(i))
		}
	}
	d := r.ttl + r.slack + time.Second
	r.t.Logf("faults: isolating %s for %v: %s alone has no quorum", strings.Join(names, ","), d, r.cluster.Nodes[l].Name)
	t0 := history.Now()
	if err := r.nem.QuorumLoss(names, down, d, "followers"); err != nil {
		r.t.Fatal(err)
	}
	r.leader()
	r.afterNodeFault(checker.QuorumLoss, t0)
}

// aimAtLeader waits until someone holds the lock (so that the fault hits
// a holder) and returns the leader node's index, or -1 when either did not
// come (recorded as Stuck).
func (r *run) aimAtLeader() int {
	if r.holder(lockRes, 30*time.Second) == nil {
		return -1
	}
	return r.leader()
}

// afterNodeFault waits for the lock and leadership to change hands and the
// views to converge after the fault of kind that began at t0, and logs what
// it did.
func (r *run) afterNodeFault(kind string, t0 int64) {
	r.progress(r.expiryBound() + r.slack + 30*time.Second)
	r.membersConverge()
	r.measure(kind, t0)
}

// membersConverge waits until every live process's view of the group is
// the live processes (the processes leave and re-join now and then, so the
// views agree only between those moves).
func (r *run) membersConverge() {
	r.waitFor("membership views converge after the fault", r.expiryBound()+r.slack+30*time.Second,
		func(recs []history.Rec) bool { return converged(recs, r.live()) })
}

// labHosts adds one host per cluster node to the run's lab, so that every
// node has its own address and can be partitioned on its own.
func labHosts(lab *netlab.Lab) []*netlab.Host {
	hosts := make([]*netlab.Host, clusterNodes)
	for i := range hosts {
		hosts[i] = lab.AddHost(fmt.Sprintf("n%d", i+1))
	}
	return hosts
}

// hostCut isolates a node by dropping every packet into and out of its
// netlab host (Host.Cut): its peers and its clients (through their
// proxies) hear nothing from it, and it runs on, hearing nothing.
type hostCut struct{ h *netlab.Host }

func (c hostCut) Isolate() error { return c.do(c.h.Cut) }
func (c hostCut) Heal() error    { return c.do(c.h.Heal) }

func (c hostCut) do(f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f(ctx)
}

// isolation is how node i is cut off from everybody.
func (r *run) isolation(i int) nemesis.Isolation { return hostCut{r.cluster.Hosts[i]} }

// measure logs what the fault that began at t0 did: for every section held
// then, when its holder saw Lost() (or that it never did); and when the
// lock and the leadership were next taken by anyone.
func (r *run) measure(kind string, t0 int64) {
	recs := r.records()
	secs := map[string]history.Rec{}
	var lines []string
	for _, rec := range recs {
		key := fmt.Sprintf("%s/%s/%d", rec.Proc, rec.F, rec.Acq)
		switch {
		case rec.T <= t0 && rec.Type == history.Enter:
			secs[key] = rec
		case rec.T <= t0 && rec.Type == history.Exit:
			delete(secs, key)
		case rec.T > t0 && rec.Type == history.Lost:
			for k, s := range secs {
				if s.Proc == rec.Proc && s.Acq == rec.Acq {
					lines = append(lines, fmt.Sprintf("%s %s %s#%d saw Lost() after %v", s.F, s.Res, s.Proc, s.Acq, time.Duration(rec.T-t0).Round(time.Millisecond)))
					delete(secs, k)
				}
			}
		case rec.T > t0 && rec.Type == history.Exit:
			if s, ok := secs[key]; ok {
				lines = append(lines, fmt.Sprintf("%s %s %s#%d held on and left after %v (%s)", s.F, s.Res, s.Proc, s.Acq, time.Duration(rec.T-t0).Round(time.Millisecond), rec.Note))
				delete(secs, key)
			}
		}
	}
	for _, f := range []string{history.FLock, history.FLead} {
		for _, rec := range recs {
			if rec.T > t0 && rec.Type == history.Enter && rec.F == f {
				lines = append(lines, fmt.Sprintf("%s next taken by %s#%d after %v", f, rec.Proc, rec.Acq, time.Duration(rec.T-t0).Round(time.Millisecond)))
				break
			}
		}
	}
	sort.Strings(lines)
	r.t.Logf("faults: measured after %s:\n  %s", kind, strings.Join(lines, "\n  "))
}
