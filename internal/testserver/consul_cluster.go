// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/netlab"
)

// ConsulCluster is a Consul datacenter of several servers and one client
// agent (StartConsulCluster): the servers hold the Raft log and elect a
// leader among themselves; applications talk to the client agent, which
// forwards their requests to the servers, as in production.
type ConsulCluster struct {
	// Cluster holds the servers ("consul1", ...): Leader, WaitLeader and
	// Quorum are about them. When started with InHosts, Hosts[i] holds
	// Nodes[i].
	*Cluster
	// Agent is the client agent; its Addr is the HTTP API for a consul://
	// URL.
	Agent *Server
	// AgentHost is the netlab host of the agent (the last of InHosts), or
	// nil on loopback.
	AgentHost *netlab.Host
}

// StartConsulCluster starts n Consul servers (ConsulVersion, -server
// -bootstrap-expect n, raft_multiplier 1, data in DataDir, so a node
// survives Kill and Restart) and one client agent, all joined to each
// other with -retry-join, on loopback or, with InHosts (n+1 hosts, the
// agent's last), in netlab hosts. It waits until the servers have elected
// a leader that all of them follow and the agent answers through them.
// WithArgs is appended to every command line.
func StartConsulCluster(t testing.TB, n int, opts ...Option) *ConsulCluster {
	t.Helper()
	bin := findBinary(t, "TOOZ_CONSUL", "consul "+ConsulVersion, filepath.Join(BinDir(), "consul-"+ConsulVersion))
	c := &Cluster{Name: "consul-cluster", leader: consulState}
	startCluster(t, c, n+1, 4, func(i int) *backend {
		name := "consul" + strconv.Itoa(i+1)
		if i == n {
			name = "consul-agent"
		}
		return &backend{
			name:   name,
			nports: 4, // HTTP, server RPC, Serf LAN, Serf WAN
			command: func(s *Server) (string, []string, error) {
				args := []string{
					"agent",
					"-node", name,
					"-data-dir", s.DataDir,
					"-client", s.ip(),
					"-bind", s.ip(),
					"-http-port", strconv.Itoa(s.ports[0]),
					"-server-port", strconv.Itoa(s.ports[1]),
					"-serf-lan-port", strconv.Itoa(s.ports[2]),
					"-serf-wan-port", strconv.Itoa(s.ports[3]),
					"-dns-port", "-1",
					"-grpc-port", "-1",
					"-grpc-tls-port", "-1",
					"-hcl", `session_ttl_min = "1s"`,
					"-hcl", `disable_update_check = true`,
					"-hcl", `leave_on_terminate = false`,
					"-hcl", `performance { raft_multiplier = 1 }`,
					"-log-level", "info",
					// The first join usually finds the others not yet
					// listening; the default retry is 30s later.
					"-retry-interval", "200ms",
					// A server that comes back is a voter again after
					// this long healthy (default 10s).
					"-hcl", `autopilot { server_stabilization_time = "2s" }`,
				}
				if i < n {
					args = append(args, "-server", "-bootstrap-expect", strconv.Itoa(n))
				}
				for j, o := range c.Nodes {
					if j != i && j < n {
						args = append(args, "-retry-join", net.JoinHostPort(o.ip(), strconv.Itoa(o.ports[2])))
					}
				}
				return bin, append(args, s.cfg.extra...), nil
			},
			probe: probeConsul,
		}
	}, opts)
	cc := &ConsulCluster{Cluster: c, Agent: c.Nodes[n]}
	c.Nodes = c.Nodes[:n]
	if c.Hosts != nil {
		cc.AgentHost = c.Hosts[n]
		c.Hosts = c.Hosts[:n]
	}
	ctx, cancel := context.WithTimeout(context.Background(), newConfig(opts).startTimeout)
	defer cancel()
	if err := cc.WaitHealthy(ctx); err != nil {
		t.Fatalf("%v", err)
	}
	return cc
}

// WaitHealthy waits until the servers have a leader and autopilot says
// every server is a healthy voter, so that the datacenter survives the
// loss of any one of them. A server that was killed or cut off is removed
// from the Raft configuration by autopilot's dead-server cleanup; back, it
// is a voter again only after 2s of health (server_stabilization_time):
// before that, losing another server loses the quorum.
func (cc *ConsulCluster) WaitHealthy(ctx context.Context) error {
	err := poll(ctx, 100*time.Millisecond, func() error {
		l, err := cc.Leader(ctx)
		if err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		body, err := httpGet(pctx, "http://"+cc.Nodes[l].Addr+"/v1/operator/autopilot/health")
		if err != nil {
			return err
		}
		var h struct {
			Healthy          bool
			FailureTolerance int
			Servers          []struct {
				Name    string
				Healthy bool
				Voter   bool
			}
		}
		if err := json.Unmarshal(body, &h); err != nil {
			return fmt.Errorf("autopilot health: %v: %q", err, body)
		}
		voters := 0
		for _, s := range h.Servers {
			if s.Healthy && s.Voter {
				voters++
			}
		}
		if !h.Healthy || voters != len(cc.Nodes) {
			return fmt.Errorf("autopilot: healthy %v, %d healthy voters of %d", h.Healthy, voters, len(cc.Nodes))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("testserver: %s not healthy: %w", cc.Name, err)
	}
	return nil
}

// consulState asks a server for its own address (/v1/agent/self: the
// Raft address it advertises) and its leader's (/v1/status/leader).
func consulState(ctx context.Context, s *Server) (nodeState, error) {
	body, err := httpGet(ctx, "http://"+s.Addr+"/v1/status/leader")
	if err != nil {
		return nodeState{}, err
	}
	var leader string
	if err := json.Unmarshal(body, &leader); err != nil {
		return nodeState{}, fmt.Errorf("/v1/status/leader: %v: %q", err, body)
	}
	self := net.JoinHostPort(s.ip(), strconv.Itoa(s.ports[1]))
	return nodeState{serving: leader != "", leader: leader == self, id: self, leadID: leader}, nil
}
