// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/netlab"
	"github.com/toozgo/tooz/internal/testserver"
)

// failoverTTL is the liveness timeout (and Redis lock TTL) of the
// failover runs' coordinators: longer than a failover (3-6s here), so that
// a lock can survive one, which is the case worth measuring.
const failoverTTL = 8 * time.Second

// topology is a replicated backend as the failover rounds see it.
type topology struct {
	name string
	// url opens a coordinator on the topology, in namespace ns (letters
	// and digits only).
	url func(ns string) string
	// linear: the driver declares Linearizable here, so an overlap of two
	// holders is a bug, not a measurement.
	linear bool
	// expiryFactor: a holder that stopped renewing has its lock freed
	// within expiryFactor × TTL (Consul: 2).
	expiryFactor int
	// faults are the ways to take the node that serves the lock away. Each
	// returns a wait (until another node serves) and a heal (the node
	// back, the topology whole again).
	faults []topoFault
}

type topoFault struct {
	name string
	do   func(t *testing.T, ns string) (desc string, wait func(context.Context) error, heal func(context.Context) error)
}

// redisSentinelTopology kills the master: Sentinel promotes the replica.
func redisSentinelTopology(t *testing.T) topology {
	r := testserver.StartRedisSentinel(t)
	return topology{
		name:         "redis-sentinel",
		expiryFactor: 1,
		url: func(ns string) string {
			return "redis+sentinel://" + r.Addrs() + "/0?master=" + testserver.SentinelMaster + "&namespace=" + ns
		},
		faults: []topoFault{{"master killed", func(t *testing.T, ns string) (string, func(context.Context) error, func(context.Context) error) {
			m, err := r.Master(failoverCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			r.Data[m].Kill()
			wait := func(ctx context.Context) error { _, err := r.WaitMaster(ctx, m); return err }
			heal := func(ctx context.Context) error {
				if err := r.Data[m].Restart(); err != nil {
					return err
				}
				return r.WaitInSync(ctx)
			}
			return r.Data[m].Name, wait, heal
		}}},
	}
}

// redisClusterTopology kills the master of the namespace's slot (the
// driver keeps a namespace in one slot with the hash tag {ns}): its
// replica takes over.
func redisClusterTopology(t *testing.T) topology {
	r := testserver.StartRedisCluster(t)
	return topology{
		name:         "redis-cluster",
		expiryFactor: 1,
		url:          func(ns string) string { return "redis://" + r.Addrs() + "/?namespace=" + ns },
		faults: []topoFault{{"slot master killed", func(t *testing.T, ns string) (string, func(context.Context) error, func(context.Context) error) {
			key := "{" + ns + "}"
			m, err := r.MasterOf(failoverCtx(t), key)
			if err != nil {
				t.Fatal(err)
			}
			r.Nodes[m].Kill()
			wait := func(ctx context.Context) error { _, err := r.WaitMasterOf(ctx, key, m); return err }
			heal := func(ctx context.Context) error {
				if err := r.Nodes[m].Restart(); err != nil {
					return err
				}
				return r.WaitHealthy(ctx)
			}
			return r.Nodes[m].Name, wait, heal
		}}},
	}
}

// consulClusterTopology kills the Raft leader, and cuts it off from
// everybody (its netlab host drops every packet): the two others elect
// another leader, and the client agent forwards to it.
func consulClusterTopology(t *testing.T) topology {
	lab := netlab.New(t)
	hosts := make([]*netlab.Host, clusterNodes+1)
	for i := range hosts {
		hosts[i] = lab.AddHost(fmt.Sprintf("c%d", i+1))
	}
	c := testserver.StartConsulCluster(t, clusterNodes, testserver.InHosts(hosts...))
	leader := func(t *testing.T) int {
		l, err := c.WaitLeader(failoverCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	return topology{
		name:         "consul-cluster",
		url:          func(ns string) string { return "consul://" + c.Agent.Addr + "?namespace=" + ns },
		linear:       true,
		expiryFactor: 2,
		faults: []topoFault{
			{"leader killed", func(t *testing.T, ns string) (string, func(context.Context) error, func(context.Context) error) {
				l := leader(t)
				c.Nodes[l].Kill()
				wait := func(ctx context.Context) error { _, err := c.WaitLeader(ctx, l); return err }
				heal := func(ctx context.Context) error {
					if err := c.Nodes[l].Restart(); err != nil {
						return err
					}
					return c.WaitHealthy(ctx)
				}
				return c.Nodes[l].Name, wait, heal
			}},
			{"leader partitioned off", func(t *testing.T, ns string) (string, func(context.Context) error, func(context.Context) error) {
				l := leader(t)
				if err := c.Hosts[l].Cut(failoverCtx(t)); err != nil {
					t.Fatal(err)
				}
				wait := func(ctx context.Context) error { _, err := c.WaitLeader(ctx, l); return err }
				heal := func(ctx context.Context) error {
					if err := c.Hosts[l].Heal(ctx); err != nil {
						return err
					}
					return c.WaitHealthy(ctx)
				}
				return c.Nodes[l].Name, wait, heal
			}},
		},
	}
}

func failoverCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// roundResult is what one failover did to a held lock.
type roundResult struct {
	failover time.Duration // fault to a new serving node
	kept     bool          // the holder kept the lock across the failover
	overlap  time.Duration // > 0: the second holder got the lock this long before the first saw Lost()
	overlaps bool
	grantRTT time.Duration // how long the successful TryAcquire took: the overlap's uncertainty
	tokA     uint64
	tokB     uint64
}

// failoverRound: holder A takes a fresh lock, the fault hits the node
// that serves it right away (as little time as possible for the write to
// reach a replica), and contender B tries to take the lock from then until
// the lock must have been freed had A stopped renewing it (the expiry bound
// after the fault, plus slack, and at least until a new node serves).
// Either A keeps the lock (B never gets it), or B gets it: then B's fencing
// token must be greater than A's, and A must see Lost() — before B got the
// lock, or else the two overlapped, which is measured (and a failure where
// the backend declares Linearizable).
func failoverRound(t *testing.T, tp topology, f topoFault, round int, lastTok *uint64) roundResult {
	ns := fmt.Sprintf("fo%d%d", time.Now().UnixNano(), round)
	a := openEventually(t, tp.url(ns), "a")
	b := openEventually(t, tp.url(ns), "b")
	la, lb := a.Lock("L"), b.Lock("L")
	acquireEventually(t, la)
	var res roundResult
	res.tokA = la.FencingToken()
	if res.tokA <= *lastTok {
		t.Errorf("round %d: token %d of a new holder is not above the last one %d", round, res.tokA, *lastTok)
	}
	*lastTok = res.tokA
	var lostAt atomic.Int64
	lostDone := make(chan struct{})
	go func() {
		defer close(lostDone)
		<-la.Lost()
		lostAt.Store(time.Now().UnixNano())
	}()

	desc, wait, heal := f.do(t, ns)
	began := time.Now()
	served := make(chan time.Duration, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := wait(ctx); err != nil {
			t.Errorf("round %d: %s: %v", round, desc, err)
		}
		served <- time.Since(began)
	}()
	var (
		got     bool
		tried   time.Time
		waitErr error
	)
	window := began.Add(time.Duration(tp.expiryFactor)*failoverTTL + 2*time.Second)
	for !got {
		select {
		case d := <-served:
			res.failover = d
		default:
		}
		if time.Now().After(window) && (res.failover != 0 || time.Since(began) > 70*time.Second) {
			break
		}
		// TryAcquire, not Acquire: a grant then falls within one round
		// trip of tried, so the overlap measured from tried is not
		// inflated by time spent waiting in the queue.
		tried = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		got, waitErr = lb.TryAcquire(ctx)
		cancel()
		if got {
			res.grantRTT = time.Since(tried)
			break
		}
		select {
		case <-time.After(20 * time.Millisecond): // polling the lock's state on the backend
		case d := <-served:
			res.failover = d
		}
	}
	if res.failover == 0 {
		res.failover = <-served
	}
	if got {
		res.tokB = lb.FencingToken()
		if res.tokB <= res.tokA {
			t.Errorf("round %d: B's token %d is not above A's %d after %s", round, res.tokB, res.tokA, desc)
		}
		*lastTok = max(*lastTok, res.tokB)
		if at := lostAt.Load(); at == 0 || at > tried.UnixNano() {
			res.overlaps = true
			// A must still learn it lost the lock.
			select {
			case <-lostDone:
			case <-time.After(time.Duration(tp.expiryFactor)*failoverTTL + 5*time.Second):
				t.Errorf("round %d: A never saw Lost() although B holds the lock", round)
			}
			res.overlap = time.Duration(lostAt.Load() - tried.UnixNano())
			if tp.linear {
				t.Errorf("round %d: %s: B got the lock %v before A saw Lost()", round, desc, res.overlap)
			}
		}
	} else {
		res.kept = la.Held()
		if !res.kept {
			t.Errorf("round %d: after %s nobody holds the lock: A lost it and B could not take it (last error: %v)", round, desc, waitErr)
		}
	}
	closeBoth(t, a, b)
	<-lostDone
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := heal(ctx); err != nil {
		t.Fatalf("round %d: healing %s: %v", round, desc, err)
	}
	return res
}

func openEventually(t *testing.T, url, member string) *tooz.Coordinator {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := tooz.Open(ctx, url, member, tooz.WithTimeout(failoverTTL))
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) || !errors.Is(err, tooz.ErrConnection) {
			t.Fatalf("open %s: %v", member, err)
		}
	}
}

func acquireEventually(t *testing.T, l *tooz.Lock) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := l.Acquire(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("acquire: %v", err)
		}
	}
}

func closeBoth(t *testing.T, cs ...*tooz.Coordinator) {
	for _, c := range cs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.Close(ctx); err != nil && !errors.Is(err, tooz.ErrConnection) {
			t.Logf("close: %v", err)
		}
		cancel()
	}
}

// runFailovers runs rounds failover rounds of every fault of tp and logs
// the measurements: failover times, how often the lock survived, and how
// often (and how long) two holders overlapped.
func runFailovers(t *testing.T, tp topology, rounds int) {
	var lastTok uint64
	for _, f := range tp.faults {
		var (
			kept, overlaps, moved int
			worst, total          time.Duration
			maxFailover, sum      time.Duration
		)
		for i := range rounds {
			res := failoverRound(t, tp, f, i, &lastTok)
			sum += res.failover
			maxFailover = max(maxFailover, res.failover)
			switch {
			case res.kept:
				kept++
			case res.overlaps:
				overlaps++
				total += res.overlap
				worst = max(worst, res.overlap)
			default:
				moved++
			}
			t.Logf("faults: %s / %s round %d: failover %v, kept %v, overlap %v (%v, ±%v), tokens %d -> %d",
				tp.name, f.name, i, res.failover.Round(time.Millisecond), res.kept, res.overlaps, res.overlap.Round(time.Millisecond),
				res.grantRTT.Round(time.Millisecond), res.tokA, res.tokB)
		}
		t.Logf("faults: measured: %s / %s, %d rounds: failover mean %v max %v; lock kept by its holder %d, handed over cleanly %d, two holders overlapped %d (worst %v, total %v); fencing tokens grew in every round",
			tp.name, f.name, rounds, (sum / time.Duration(rounds)).Round(time.Millisecond), maxFailover.Round(time.Millisecond),
			kept, moved, overlaps, worst.Round(time.Millisecond), total.Round(time.Millisecond))
	}
}

// failoverRounds is TOOZ_FAILOVERS under TOOZ_FAULTS=full (default 10), else 1.
func failoverRounds() int {
	if os.Getenv("TOOZ_FAULTS") != "full" {
		return 1
	}
	if v, err := strconv.Atoi(os.Getenv("TOOZ_FAILOVERS")); err == nil && v > 0 {
		return v
	}
	return 10
}

// TestFailover takes away the node that serves a held lock on Redis
// Sentinel (master killed: the replica is promoted), Redis Cluster (the
// slot's master killed: its replica takes over) and a 3-server Consul
// (leader killed; leader partitioned off), once per fault in the smoke
// tier and TOOZ_FAILOVERS times (default 10) with TOOZ_FAULTS=full. It
// checks that the fencing tokens only grow across every promotion, that
// a holder that loses its lock learns it, and, on Consul, that two holders
// never overlap; on Redis, whose replication is asynchronous, it measures
// how often they do. TOOZ_FAULTS_BACKENDS narrows the topologies
// ("redis-sentinel", "redis-cluster", "consul-cluster").
func TestFailover(t *testing.T) {
	rounds := failoverRounds()
	all := []struct {
		name  string
		start func(*testing.T) topology
	}{
		{"redis-sentinel", redisSentinelTopology},
		{"redis-cluster", redisClusterTopology},
		{"consul-cluster", consulClusterTopology},
	}
	want := map[string]bool{}
	for _, n := range splitComma(os.Getenv("TOOZ_FAULTS_BACKENDS")) {
		want[n] = true
	}
	for _, tc := range all {
		if len(want) > 0 && !want[tc.name] {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			runFailovers(t, tc.start(t), rounds)
		})
	}
}
