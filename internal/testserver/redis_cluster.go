// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/netlab"
)

// clusterNodeTimeout is --cluster-node-timeout: a master that answers
// nothing for this long is suspected, and failed once a majority of
// masters agree; its replica then takes over.
const clusterNodeTimeout = 2 * time.Second

// RedisCluster is a Redis Cluster of three masters and three replicas
// (StartRedisCluster). Every node is a Server that can be killed, paused
// and restarted; a node keeps its identity, slots and role in nodes.conf
// in its data directory.
type RedisCluster struct {
	// Nodes are the six nodes: Nodes[0..2] start as the masters of slots
	// 0-5460, 5461-10922 and 10923-16383, Nodes[3+i] as the replica of
	// Nodes[i]. After a failover the roles differ: see MasterOf.
	Nodes []*Server
	// Hosts are the netlab hosts of the nodes (Hosts[i] holds Nodes[i])
	// when started with InHosts; nil on loopback.
	Hosts []*netlab.Host
}

// Addrs is the comma-separated addresses of every node, for the host list
// of a redis URL (several hosts: Redis Cluster).
func (r *RedisCluster) Addrs() string {
	addrs := make([]string, len(r.Nodes))
	for i, s := range r.Nodes {
		addrs[i] = s.Addr
	}
	return strings.Join(addrs, ",")
}

// StartRedisCluster starts six nodes with --cluster-enabled yes (node
// timeout 2s, the bus on a port of its own), joins them with CLUSTER MEET,
// gives each master a third of the slots (CLUSTER ADDSLOTSRANGE), makes
// Nodes[3+i] a replica of Nodes[i] (CLUSTER REPLICATE) and waits until
// every node says cluster_state:ok and every replica is in sync. Replicas
// may take over whatever their replication lag
// (cluster-replica-validity-factor 0) and never migrate to another master.
// InHosts needs six hosts. WithArgs is appended to every node's command
// line; WithPersistence gives each an append-only file.
func StartRedisCluster(t testing.TB, opts ...Option) *RedisCluster {
	t.Helper()
	bin := findBinary(t, "TOOZ_REDIS_SERVER", "redis-server", "redis-server", "/usr/bin/redis-server")
	c := &Cluster{Name: "redis-cluster"}
	began := time.Now()
	startCluster(t, c, 6, 2, func(i int) *backend {
		return &backend{
			name:   "redis" + strconv.Itoa(i+1),
			nports: 2, // client, cluster bus
			command: func(s *Server) (string, []string, error) {
				return bin, redisArgs(s,
					"--port", strconv.Itoa(s.Port),
					"--cluster-enabled", "yes",
					"--cluster-port", strconv.Itoa(s.ports[1]),
					"--cluster-config-file", filepath.Join(s.DataDir, "nodes.conf"),
					"--cluster-node-timeout", strconv.FormatInt(clusterNodeTimeout.Milliseconds(), 10),
					"--cluster-replica-validity-factor", "0",
					"--cluster-allow-replica-migration", "no",
					"--repl-diskless-sync-delay", "0",
				), nil
			},
			probe: probeRedis,
		}
	}, opts)
	r := &RedisCluster{Nodes: c.Nodes, Hosts: c.Hosts}
	ctx, cancel := context.WithTimeout(context.Background(), newConfig(opts).startTimeout)
	defer cancel()
	if err := r.form(ctx); err != nil {
		t.Fatalf("testserver: redis-cluster: %v", err)
	}
	t.Logf("testserver: redis-cluster formed in %v", time.Since(began).Round(time.Millisecond))
	return r
}

// form makes the cluster: meet, slots, replicas, then waits until it
// serves.
func (r *RedisCluster) form(ctx context.Context) error {
	ids := make([]string, len(r.Nodes))
	for i, n := range r.Nodes {
		id, err := redisString(ctx, n.Addr, "CLUSTER", "MYID")
		if err != nil {
			return fmt.Errorf("%s: CLUSTER MYID: %v", n.Name, err)
		}
		ids[i] = id
	}
	// Each node gets a config epoch of its own before it meets the others,
	// as redis-cli --cluster create does. Left at 0, the masters resolve
	// the collision among themselves, one bump per gossip round; a master
	// killed before every node has seen its last bump leaves its replica
	// asking for votes with the older epoch, and a master that saw the
	// newer one refuses it ("slot … epoch (5) > reqEpoch (3)") for good:
	// no failover ever happens.
	for i, n := range r.Nodes {
		if _, err := redisDo(ctx, n.Addr, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			return fmt.Errorf("%s: CLUSTER SET-CONFIG-EPOCH: %v", n.Name, err)
		}
	}
	first := r.Nodes[0]
	for _, n := range r.Nodes[1:] {
		if _, err := redisDo(ctx, n.Addr, "CLUSTER", "MEET", first.ip(), strconv.Itoa(first.Port), strconv.Itoa(first.ports[1])); err != nil {
			return fmt.Errorf("%s: CLUSTER MEET: %v", n.Name, err)
		}
	}
	const slots = 16384
	for i := range 3 {
		lo, hi := i*slots/3, (i+1)*slots/3-1
		if _, err := redisDo(ctx, r.Nodes[i].Addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			return fmt.Errorf("%s: CLUSTER ADDSLOTSRANGE: %v", r.Nodes[i].Name, err)
		}
	}
	// A node can only replicate a master it knows.
	if err := poll(ctx, 50*time.Millisecond, func() error {
		for _, n := range r.Nodes {
			nodes, err := redisString(ctx, n.Addr, "CLUSTER", "NODES")
			if err != nil {
				return err
			}
			if k := strings.Count(strings.TrimSpace(nodes), "\n") + 1; k != len(r.Nodes) {
				return fmt.Errorf("%s knows %d nodes", n.Name, k)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for i := range 3 {
		if _, err := redisDo(ctx, r.Nodes[3+i].Addr, "CLUSTER", "REPLICATE", ids[i]); err != nil {
			return fmt.Errorf("%s: CLUSTER REPLICATE: %v", r.Nodes[3+i].Name, err)
		}
	}
	return r.WaitHealthy(ctx)
}

// poll calls f every interval until it returns nil or ctx ends.
func poll(ctx context.Context, interval time.Duration, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		case <-time.After(interval): // polling servers
		}
	}
}

// WaitHealthy waits until every running node says cluster_state:ok and
// knows three masters with slots, every running replica's link to its
// master is up, and every running node sees the same config epoch for
// each master (a replica whose view is older cannot win a failover vote).
func (r *RedisCluster) WaitHealthy(ctx context.Context) error {
	err := poll(ctx, 50*time.Millisecond, func() error {
		epochs := map[string]string{} // master's node ID -> config epoch, as the first node saw it
		for _, n := range r.Nodes {
			if !n.Running() {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			info, err := redisString(pctx, n.Addr, "CLUSTER", "INFO")
			var repl string
			if err == nil {
				repl, err = redisString(pctx, n.Addr, "INFO", "replication")
			}
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %v", n.Name, err)
			}
			if st := infoField(info, "cluster_state"); st != "ok" {
				return fmt.Errorf("%s: cluster_state %s", n.Name, st)
			}
			if k := infoField(info, "cluster_size"); k != "3" {
				return fmt.Errorf("%s: cluster_size %s", n.Name, k)
			}
			if infoField(repl, "role") == "slave" && infoField(repl, "master_link_status") != "up" {
				return fmt.Errorf("%s: replica link %s", n.Name, infoField(repl, "master_link_status"))
			}
			if err := agreeOnEpochs(ctx, n, epochs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("testserver: redis-cluster not healthy: %w", err)
	}
	return nil
}

// agreeOnEpochs reads n's CLUSTER NODES and checks that each master it
// knows (not failed) has the config epoch recorded in epochs by the nodes
// read before; the first to mention a master records it.
func agreeOnEpochs(ctx context.Context, n *Server, epochs map[string]string) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	nodes, err := redisString(pctx, n.Addr, "CLUSTER", "NODES")
	cancel()
	if err != nil {
		return fmt.Errorf("%s: %v", n.Name, err)
	}
	for _, l := range strings.Split(nodes, "\n") {
		f := strings.Fields(l)
		if len(f) < 8 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		id, epoch := f[0], f[6]
		if seen, ok := epochs[id]; !ok {
			epochs[id] = epoch
		} else if seen != epoch {
			return fmt.Errorf("%s sees config epoch %s for master %.8s, another node %s", n.Name, epoch, id, seen)
		}
	}
	return nil
}

// MasterOf returns the index in Nodes of the master that serves key's slot:
// the running node that says (CLUSTER NODES, its "myself" line) it is a
// master holding that slot. Right after a failover two nodes may claim it
// for a moment (the old one cut off, not yet told); then the one with the
// newer configuration epoch wins.
func (r *RedisCluster) MasterOf(ctx context.Context, key string) (int, error) {
	var slot int64 = -1
	best, bestEpoch := -1, int64(-1)
	for i, n := range r.Nodes {
		if !n.Running() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		if slot < 0 {
			v, err := redisDo(pctx, n.Addr, "CLUSTER", "KEYSLOT", key)
			if s, ok := v.(int64); err == nil && ok {
				slot = s
			}
		}
		nodes, err := redisString(pctx, n.Addr, "CLUSTER", "NODES")
		cancel()
		if err != nil || slot < 0 {
			continue
		}
		for _, l := range strings.Split(nodes, "\n") {
			f := strings.Fields(l)
			if len(f) < 8 || !strings.Contains(f[2], "myself") || !strings.Contains(f[2], "master") {
				continue
			}
			epoch, _ := strconv.ParseInt(f[6], 10, 64)
			for _, rg := range f[8:] {
				lo, hi, _ := strings.Cut(rg, "-")
				if hi == "" {
					hi = lo
				}
				a, err1 := strconv.ParseInt(lo, 10, 64)
				b, err2 := strconv.ParseInt(hi, 10, 64)
				if err1 == nil && err2 == nil && a <= slot && slot <= b && epoch > bestEpoch {
					best, bestEpoch = i, epoch
				}
			}
		}
	}
	if best < 0 {
		return -1, fmt.Errorf("testserver: redis-cluster: no running master serves the slot of %q", key)
	}
	return best, nil
}

// WaitMasterOf waits until MasterOf(key) is a node that is not one of not,
// and returns its index. It polls until ctx ends.
func (r *RedisCluster) WaitMasterOf(ctx context.Context, key string, not ...int) (int, error) {
	m := -1
	err := poll(ctx, 20*time.Millisecond, func() error {
		var err error
		m, err = r.MasterOf(ctx, key)
		if err != nil {
			return err
		}
		for _, n := range not {
			if n == m {
				return fmt.Errorf("%s still serves the slot", r.Nodes[m].Name)
			}
		}
		return nil
	})
	if err != nil {
		return -1, fmt.Errorf("testserver: redis-cluster: no new master for %q: %w", key, err)
	}
	return m, nil
}
