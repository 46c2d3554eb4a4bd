// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/netlab"
)

// SentinelMaster is the name under which the sentinels of StartRedisSentinel
// monitor their master (the master option of a redis+sentinel URL).
const SentinelMaster = "tooz"

// Sentinel timing: a master that answers nothing for sentinelDownAfter is
// subjectively down; two sentinels agreeing make it objectively down and
// start a failover.
const sentinelDownAfter = 2 * time.Second

// RedisSentinel is a Redis master, its replica and three Sentinels that
// monitor them (StartRedisSentinel). Every process is a Server that can be
// killed, paused and restarted; a restarted data node keeps its role as
// last configured (Sentinel rewrites its redis.conf when it reconfigures
// it), a restarted sentinel its state.
type RedisSentinel struct {
	// Data are the Redis servers: Data[0] starts as the master, Data[1] as
	// its replica. After a failover the roles differ: see Master.
	Data []*Server
	// Sentinels are the three sentinels; their addresses are the hosts
	// of a redis+sentinel URL (Addrs).
	Sentinels []*Server
	// Hosts are the netlab hosts of Data[0], Data[1] and the sentinels, in
	// that order, when started with InHosts; nil on loopback.
	Hosts []*netlab.Host
}

// Addrs is the comma-separated addresses of the sentinels, for the host
// list of a redis+sentinel URL.
func (r *RedisSentinel) Addrs() string {
	addrs := make([]string, len(r.Sentinels))
	for i, s := range r.Sentinels {
		addrs[i] = s.Addr
	}
	return strings.Join(addrs, ",")
}

// StartRedisSentinel starts a master, one replica of it and three sentinels
// (redis-server --sentinel; quorum 2, down-after 2s, failover timeout 10s)
// on loopback or, with InHosts (five hosts: the two data nodes, then the
// sentinels), in netlab hosts, and waits until the replica is in sync and
// every sentinel knows the replica and the two other sentinels, so that a
// failover can happen from then on. WithArgs is appended to the data nodes'
// command lines (e.g. --min-replicas-to-write 1); WithPersistence gives
// them an append-only file.
func StartRedisSentinel(t testing.TB, opts ...Option) *RedisSentinel {
	t.Helper()
	bin := findBinary(t, "TOOZ_REDIS_SERVER", "redis-server", "redis-server", "/usr/bin/redis-server")
	c := &Cluster{Name: "redis-sentinel"}
	// Each sentinel is told its ID, the replica and the other sentinels up
	// front, so that it need not discover them (which takes up to 10s).
	ids := make([]string, 5)
	for i := range ids {
		var b [20]byte
		_, _ = rand.Read(b[:])
		ids[i] = hex.EncodeToString(b[:])
	}
	began := time.Now()
	startCluster(t, c, 5, 1, func(i int) *backend {
		if i < 2 {
			return &backend{
				name:   "redis" + strconv.Itoa(i+1),
				nports: 1,
				command: func(s *Server) (string, []string, error) {
					// A replica's full sync starts at once, not after
					// the default 5s wait for more replicas.
					conf := []string{"repl-diskless-sync-delay 0"}
					if i == 1 {
						m := c.Nodes[0]
						conf = append(conf, fmt.Sprintf("replicaof %s %d", m.ip(), m.Port))
					}
					path, err := writeOnce(s, "redis.conf", conf)
					if err != nil {
						return "", nil, err
					}
					return bin, append([]string{path}, redisArgs(s, "--port", strconv.Itoa(s.Port))...), nil
				},
				probe: probeRedis,
			}
		}
		return &backend{
			name:   "sentinel" + strconv.Itoa(i-1),
			nports: 1,
			command: func(s *Server) (string, []string, error) {
				m := c.Nodes[0]
				conf := []string{
					"port " + strconv.Itoa(s.Port),
					"bind " + s.ip(),
					"daemonize no",
					`logfile ""`,
					"dir " + s.workDir,
					"sentinel resolve-hostnames no",
					fmt.Sprintf("sentinel monitor %s %s %d 2", SentinelMaster, m.ip(), m.Port),
					fmt.Sprintf("sentinel down-after-milliseconds %s %d", SentinelMaster, sentinelDownAfter.Milliseconds()),
					fmt.Sprintf("sentinel failover-timeout %s 10000", SentinelMaster),
					fmt.Sprintf("sentinel parallel-syncs %s 1", SentinelMaster),
					"sentinel myid " + ids[i],
					fmt.Sprintf("sentinel known-replica %s %s %d", SentinelMaster, c.Nodes[1].ip(), c.Nodes[1].Port),
				}
				for j := 2; j < len(c.Nodes); j++ {
					if j != i {
						o := c.Nodes[j]
						conf = append(conf, fmt.Sprintf("sentinel known-sentinel %s %s %d %s", SentinelMaster, o.ip(), o.Port, ids[j]))
					}
				}
				if s.cfg.host != nil {
					conf = append(conf, "protected-mode no")
				}
				path, err := writeOnce(s, "sentinel.conf", conf)
				if err != nil {
					return "", nil, err
				}
				return bin, []string{path, "--sentinel"}, nil
			},
			probe: probeRedis,
		}
	}, opts)
	r := &RedisSentinel{Data: c.Nodes[:2], Sentinels: c.Nodes[2:], Hosts: c.Hosts}
	ctx, cancel := context.WithTimeout(context.Background(), newConfig(opts).startTimeout)
	defer cancel()
	if err := r.waitReady(ctx); err != nil {
		t.Fatalf("testserver: redis-sentinel: %v", err)
	}
	t.Logf("testserver: redis-sentinel ready for failover in %v", time.Since(began).Round(time.Millisecond))
	return r
}

// writeOnce writes a configuration file into s's work directory unless it
// exists already: a restart keeps what the server rewrote in it.
func writeOnce(s *Server, name string, lines []string) (string, error) {
	path := filepath.Join(s.workDir, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	return path, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// waitReady waits until every sentinel sees the master, an in-sync replica
// and the two other sentinels.
func (r *RedisSentinel) waitReady(ctx context.Context) error {
	var lastErr error
	for {
		lastErr = r.ready(ctx)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (%v)", ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond): // polling the sentinels
		}
	}
}

func (r *RedisSentinel) ready(ctx context.Context) error {
	for _, s := range r.Sentinels {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		replicas, err := redisDo(pctx, s.Addr, "SENTINEL", "REPLICAS", SentinelMaster)
		if err == nil {
			err = checkReplicas(replicas)
		}
		var others any
		if err == nil {
			others, err = redisDo(pctx, s.Addr, "SENTINEL", "SENTINELS", SentinelMaster)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %v", s.Name, err)
		}
		if l, _ := others.([]any); len(l) != len(r.Sentinels)-1 {
			return fmt.Errorf("%s knows %d other sentinels", s.Name, len(l))
		}
	}
	return nil
}

// checkReplicas wants one replica, up and in sync, in a SENTINEL REPLICAS
// reply.
func checkReplicas(v any) error {
	l, _ := v.([]any)
	if len(l) != 1 {
		return fmt.Errorf("%d replicas known", len(l))
	}
	f := fields(l[0])
	if f["flags"] != "slave" || f["master-link-status"] != "ok" {
		return fmt.Errorf("replica flags %q, link %q", f["flags"], f["master-link-status"])
	}
	return nil
}

// fields turns a flat key-value array reply into a map.
func fields(v any) map[string]string {
	l, _ := v.([]any)
	m := map[string]string{}
	for i := 0; i+1 < len(l); i += 2 {
		k, _ := l[i].(string)
		m[k], _ = l[i+1].(string)
	}
	return m
}

// Master returns the index in Data of the current master: the data node
// that a majority of the sentinels name as the master and that says it is
// one (ROLE). A master cut off from the sentinels may still think it is
// one; without the sentinels behind it, it is not the master.
func (r *RedisSentinel) Master(ctx context.Context) (int, error) {
	votes := map[string]int{}
	for _, s := range r.Sentinels {
		if !s.Running() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		v, err := redisDo(pctx, s.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
		cancel()
		if l, ok := v.([]any); err == nil && ok && len(l) == 2 {
			h, _ := l[0].(string)
			p, _ := l[1].(string)
			votes[h+":"+p]++
		}
	}
	for i, d := range r.Data {
		if votes[d.Addr] < len(r.Sentinels)/2+1 || !d.Running() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		v, err := redisDo(pctx, d.Addr, "ROLE")
		cancel()
		if l, ok := v.([]any); err == nil && ok && len(l) > 0 && l[0] == "master" {
			return i, nil
		}
	}
	return -1, fmt.Errorf("testserver: redis-sentinel: no master named by a majority of sentinels and confirmed by ROLE (votes %v)", votes)
}

// WaitMaster waits until Master names a data node that is not one of not,
// and returns its index. It polls until ctx ends.
func (r *RedisSentinel) WaitMaster(ctx context.Context, not ...int) (int, error) {
	var lastErr error
	for {
		m, err := r.Master(ctx)
		if err == nil {
			excluded := false
			for _, n := range not {
				excluded = excluded || n == m
			}
			if !excluded {
				return m, nil
			}
			err = fmt.Errorf("%s is still the master", r.Data[m].Name)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("testserver: redis-sentinel: no new master: %w (%v)", ctx.Err(), lastErr)
		case <-time.After(20 * time.Millisecond): // polling the nodes
		}
	}
}

// WaitInSync waits until every running data node other than the master
// replicates from it with its link up (INFO replication:
// master_link_status:up) and the master reports as many connected
// replicas: after a failover, the old master came back as a replica.
func (r *RedisSentinel) WaitInSync(ctx context.Context) error {
	var lastErr error
	for {
		lastErr = r.inSync(ctx)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testserver: redis-sentinel: replicas not in sync: %w (%v)", ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond): // polling the nodes
		}
	}
}

func (r *RedisSentinel) inSync(ctx context.Context) error {
	m, err := r.Master(ctx)
	if err != nil {
		return err
	}
	want := 0
	for i, d := range r.Data {
		if i == m || !d.Running() {
			continue
		}
		want++
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		info, err := redisString(pctx, d.Addr, "INFO", "replication")
		cancel()
		if err != nil {
			return err
		}
		if infoField(info, "role") != "slave" || infoField(info, "master_port") != strconv.Itoa(r.Data[m].Port) ||
			infoField(info, "master_link_status") != "up" {
			return fmt.Errorf("%s: role %s of port %s, link %s", d.Name, infoField(info, "role"),
				infoField(info, "master_port"), infoField(info, "master_link_status"))
		}
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	info, err := redisString(pctx, r.Data[m].Addr, "INFO", "replication")
	cancel()
	if err != nil {
		return err
	}
	if got := infoField(info, "connected_slaves"); got != strconv.Itoa(want) {
		return errors.New("master has " + got + " replicas connected, want " + strconv.Itoa(want))
	}
	return nil
}
