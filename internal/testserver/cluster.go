// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/netlab"
)

// Cluster is a replicated server: several nodes of one kind (an etcd
// cluster, a ZooKeeper ensemble) that elect a leader among themselves and
// serve while a quorum of them runs. Each node is a Server of its own,
// which can be killed, paused and restarted on its data directory and ports
// while the others run.
type Cluster struct {
	// Name is "etcd-cluster" or "zookeeper-cluster".
	Name string
	// Nodes are the members; Nodes[i].Name is the kind followed by i+1
	// ("etcd1", "zookeeper2").
	Nodes []*Server
	// Hosts are the netlab hosts the nodes run in (Hosts[i] holds
	// Nodes[i]) when the cluster was started with InHosts; nil on
	// loopback. Cutting a host off (Host.Cut, CutFrom) partitions its node.
	Hosts []*netlab.Host

	t      testing.TB
	leader func(ctx context.Context, s *Server) (nodeState, error)
}

// nodeState is what one node says about itself and its leader.
type nodeState struct {
	serving bool
	leader  bool   // the node leads
	id      string // etcd: the member ID
	leadID  string // etcd: the member ID of the leader the node follows
}

// InHosts runs node i of a cluster inside hosts[i] (as InHost does for one
// server), each listening on its host's address: a network partition of a
// node is then a cut of its host. It needs one host per node.
func InHosts(hosts ...*netlab.Host) Option { return func(c *config) { c.hosts = hosts } }

// Addrs is the comma-separated client addresses of every node (Addr), for a
// URL's host list.
func (c *Cluster) Addrs() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return strings.Join(addrs, ",")
}

// Quorum is the number of nodes that must run for the cluster to serve.
func (c *Cluster) Quorum() int { return len(c.Nodes)/2 + 1 }

// Leader returns the index in Nodes of the current leader: the node that
// says it leads and that a quorum of nodes (itself included) follows. A
// node cut off from the others may still believe it leads for a moment;
// without a quorum behind it, it is not the leader. Nodes that do not answer
// within the context count as not following anybody.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	states := make([]nodeState, len(c.Nodes))
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		if !n.Running() {
			errs[i] = errors.New("not running")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			states[i], errs[i] = c.leader(pctx, n)
		}()
	}
	wg.Wait()
	leaders := []int{}
	for i, s := range states {
		if errs[i] == nil && s.serving && s.leader {
			leaders = append(leaders, i)
		}
	}
	for _, l := range leaders {
		followers := 0
		for i, s := range states {
			switch {
			case errs[i] != nil || !s.serving:
			case i == l:
				followers++
			case states[l].id != "" && s.leadID == states[l].id && !s.leader:
				followers++ // etcd names the leader it follows
			case states[l].id == "" && !s.leader:
				followers++ // ZooKeeper: a serving follower follows the only leader
			}
		}
		// Two ZooKeeper servers in leader mode cannot be told apart by
		// their followers: then nobody is the leader yet.
		if followers >= c.Quorum() && (states[l].id != "" || len(leaders) == 1) {
			return l, nil
		}
	}
	var b strings.Builder
	for i, s := range states {
		fmt.Fprintf(&b, " %s:", c.Nodes[i].Name)
		switch {
		case errs[i] != nil:
			fmt.Fprintf(&b, " %v;", errs[i])
		case !s.serving:
			b.WriteString(" not serving;")
		case s.leader:
			b.WriteString(" leader;")
		default:
			fmt.Fprintf(&b, " follower of %q;", s.leadID)
		}
	}
	return -1, fmt.Errorf("testserver: %s has no leader with a quorum:%s", c.Name, b.String())
}

// WaitLeader waits until the cluster has a leader (see Leader) that is not
// one of the nodes in not, and returns its index. It polls until ctx ends.
func (c *Cluster) WaitLeader(ctx context.Context, not ...int) (int, error) {
	var lastErr error
	for {
		l, err := c.Leader(ctx)
		if err == nil {
			excluded := false
			for _, n := range not {
				excluded = excluded || n == l
			}
			if !excluded {
				return l, nil
			}
			err = fmt.Errorf("%s still leads", c.Nodes[l].Name)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("testserver: %s: no new leader: %w (%v)", c.Name, ctx.Err(), lastErr)
		case <-time.After(20 * time.Millisecond): // polling the nodes
		}
	}
}

// startCluster creates n nodes with backends from mk, launches all of
// them, then waits until each serves: a node cannot serve before a quorum
// of them runs, so nobody waits for readiness before all are launched.
func startCluster(t testing.TB, c *Cluster, n, nports int, mk func(i int) *backend, opts []Option) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("testserver: %s of %d nodes", c.Name, n)
	}
	c.t = t
	cfg := newConfig(opts)
	if cfg.hosts != nil && len(cfg.hosts) != n {
		t.Fatalf("testserver: %s of %d nodes in %d hosts", c.Name, n, len(cfg.hosts))
	}
	c.Hosts = cfg.hosts
	for i := range n {
		ncfg := cfg
		if cfg.hosts != nil {
			ncfg.host = cfg.hosts[i]
		}
		c.Nodes = append(c.Nodes, newServer(t, mk(i), ncfg))
	}
	began := time.Now()
	var lastErr error
	for attempt := 1; attempt <= portAttempts; attempt++ {
		for _, s := range c.Nodes {
			ports, err := freePorts(nports)
			if err != nil {
				t.Fatalf("testserver: %s: %v", c.Name, err)
			}
			s.ports, s.Port = ports, ports[0]
			s.Addr = net.JoinHostPort(s.ip(), strconv.Itoa(s.Port))
		}
		lastErr = c.launchAll()
		if lastErr == nil {
			names := make([]string, n)
			for i, s := range c.Nodes {
				names[i] = fmt.Sprintf("%s at %s (pid %d, log %s)", s.Name, s.Addr, s.pid(), s.LogPath)
			}
			t.Logf("testserver: %s ready in %v: %s", c.Name, time.Since(began).Round(time.Millisecond), strings.Join(names, ", "))
			return c
		}
		if !errors.Is(lastErr, errPortTaken) {
			break
		}
		t.Logf("testserver: %s: port conflict on attempt %d, retrying on new ports: %v", c.Name, attempt, lastErr)
	}
	var tails strings.Builder
	for _, s := range c.Nodes {
		fmt.Fprintf(&tails, "\n--- %s (%s):\n%s", s.Name, s.LogPath, s.logTail())
	}
	t.Fatalf("testserver: %s did not start: %v%s", c.Name, lastErr, tails.String())
	return nil
}

// launchAll starts every node, then waits until each serves; on a failure
// it kills all of them. The nodes are awaited together, and the first
// failure ends the others' waits: a node that cannot serve without the
// failed one (a Consul server expecting three) must not wait out its whole
// start timeout, and a port conflict must be reported as one (errPortTaken)
// so that the cluster is retried on new ports.
func (c *Cluster) launchAll() error {
	type launched struct {
		p      *process
		offset int64
	}
	ls := make([]launched, len(c.Nodes))
	var err error
	for i, s := range c.Nodes {
		s.mu.Lock()
		ls[i].p, ls[i].offset, err = s.launchLocked()
		s.mu.Unlock()
		if err != nil {
			break
		}
	}
	if err == nil {
		errs := make([]error, len(c.Nodes))
		abort := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for i, s := range c.Nodes {
			wg.Go(func() {
				s.mu.Lock()
				errs[i] = s.awaitLocked(ls[i].p, ls[i].offset, abort)
				s.mu.Unlock()
				if errs[i] != nil {
					once.Do(func() { close(abort) })
				}
			})
		}
		wg.Wait()
		err = firstClusterError(c.Nodes, errs)
	}
	if err != nil {
		for _, s := range c.Nodes {
			s.Kill()
		}
	}
	return err
}

// firstClusterError picks the error that explains a failed start: a port
// conflict first (it is retried), then any other node's own failure, and
// an aborted wait only if nothing else failed.
func firstClusterError(nodes []*Server, errs []error) error {
	var own, aborted error
	for i, e := range errs {
		switch {
		case e == nil:
		case errors.Is(e, errPortTaken):
			return fmt.Errorf("%s: %w", nodes[i].Name, e)
		case errors.Is(e, errAborted):
			if aborted == nil {
				aborted = e
			}
		case own == nil:
			own = fmt.Errorf("%s: %w", nodes[i].Name, e)
		}
	}
	if own != nil {
		return own
	}
	return aborted
}

// StartEtcdCluster starts an etcd cluster of n members (the current etcd,
// EtcdVersion) on loopback (or in netlab hosts, see InHosts), each with a 50ms heartbeat and a 500ms election
// timeout (a little longer than the single member's, so that three members
// and their clients on a loaded machine do not elect all the time), and
// waits until every member says it is healthy. WithNoFsync gives each
// member --unsafe-no-fsync; WithArgs is appended to every member's command
// line.
func StartEtcdCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	bin := findBinary(t, "TOOZ_ETCD", "etcd "+EtcdVersion, filepath.Join(BinDir(), "etcd-"+EtcdVersion))
	c := &Cluster{Name: "etcd-cluster", leader: etcdState}
	member := func(i int) string { return "tooz-node" + strconv.Itoa(i+1) }
	url := func(s *Server, port int) string {
		return "http://" + s.ip() + ":" + strconv.Itoa(port)
	}
	return startCluster(t, c, n, 2, func(i int) *backend {
		return &backend{
			name:   "etcd" + strconv.Itoa(i+1),
			nports: 2, // client, peer
			command: func(s *Server) (string, []string, error) {
				var initial []string
				for j, o := range c.Nodes {
					initial = append(initial, member(j)+"="+url(o, o.ports[1]))
				}
				args := []string{
					"--name", member(i),
					"--data-dir", s.DataDir,
					"--listen-client-urls", url(s, s.ports[0]),
					"--advertise-client-urls", url(s, s.ports[0]),
					"--listen-peer-urls", url(s, s.ports[1]),
					"--initial-advertise-peer-urls", url(s, s.ports[1]),
					"--initial-cluster", strings.Join(initial, ","),
					"--initial-cluster-state", "new",
					"--initial-cluster-token", "tooz-cluster-" + strconv.Itoa(c.Nodes[0].ports[1]),
					"--heartbeat-interval", "50",
					"--election-timeout", "500",
					"--log-outputs", "stderr",
				}
				if s.cfg.noFsync {
					args = append(args, "--unsafe-no-fsync")
				}
				return bin, append(args, s.cfg.extra...), nil
			},
			probe: probeEtcd,
		}
	}, opts)
}

// etcdState asks a member for its status through the JSON gateway
// (POST /v3/maintenance/status): its own member ID and its leader's.
func etcdState(ctx context.Context, s *Server) (nodeState, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.Addr+"/v3/maintenance/status", strings.NewReader("{}"))
	if err != nil {
		return nodeState{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := probeClient.Do(req)
	if err != nil {
		return nodeState{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nodeState{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return nodeState{}, fmt.Errorf("status: %s: %q", resp.Status, body)
	}
	// The gateway writes 64-bit integers as JSON strings.
	var st struct {
		Header struct {
			MemberID string `json:"member_id"`
		} `json:"header"`
		Leader string   `json:"leader"`
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return nodeState{}, fmt.Errorf("status: %v: %q", err, body)
	}
	return nodeState{
		serving: st.Leader != "" && st.Leader != "0" && len(st.Errors) == 0,
		leader:  st.Leader == st.Header.MemberID,
		id:      st.Header.MemberID,
		leadID:  st.Leader,
	}, nil
}

// StartZooKeeperEnsemble starts a ZooKeeper ensemble of n servers (the JVM
// runs QuorumPeerMain directly with -Xmx64m) from a static configuration
// (server.N lines, a myid file in each data directory) with tickTime=100ms,
// initLimit=50 and syncLimit=10 (a follower that hears nothing from its
// leader for 1s leaves it, and so does a leader without a quorum), and
// waits until every server answers "srvr" as a leader or a follower.
// WithNoFsync sets forceSync=no; WithArgs adds zoo.cfg lines to every server.
func StartZooKeeperEnsemble(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	java, classpath := zooKeeperRuntime(t)
	c := &Cluster{Name: "zookeeper-cluster", leader: zooKeeperState}
	return startCluster(t, c, n, 3, func(i int) *backend {
		return &backend{
			name:   "zookeeper" + strconv.Itoa(i+1),
			nports: 3, // client, quorum, election
			command: func(s *Server) (string, []string, error) {
				more := []string{"initLimit=50", "syncLimit=10", "reconfigEnabled=false"}
				for j, o := range c.Nodes {
					more = append(more, fmt.Sprintf("server.%d=%s:%d:%d", j+1, o.ip(), o.ports[1], o.ports[2]))
				}
				cfgPath, err := writeZooCfg(s, false, more...)
				if err != nil {
					return "", nil, err
				}
				if err := os.WriteFile(filepath.Join(s.DataDir, "myid"), []byte(strconv.Itoa(i+1)+"\n"), 0o644); err != nil {
					return "", nil, err
				}
				return java, []string{
					"-Xms16m", "-Xmx64m",
					"-XX:+UseSerialGC",
					"-XX:TieredStopAtLevel=1",
					"-Xss512k",
					"-Djava.net.preferIPv4Stack=true",
					"-Dzookeeper.jmx.log4j.disable=true",
					// A peer that drops packets must not hold up an
					// election for the default 5s connect timeout.
					"-Dzookeeper.cnxTimeout=500",
					"-Dorg.slf4j.simpleLogger.showDateTime=true",
					"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
					"-cp", classpath,
					"org.apache.zookeeper.server.quorum.QuorumPeerMain", cfgPath,
				}, nil
			},
			probe: probeZooKeeper,
		}
	}, opts)
}

// zooKeeperState asks a server "srvr": its mode is leader, follower, or
// none while it is not serving.
func zooKeeperState(ctx context.Context, s *Server) (nodeState, error) {
	reply, err := tcpExchange(ctx, s.Addr, "srvr", false)
	if err != nil {
		return nodeState{}, err
	}
	switch {
	case strings.Contains(reply, "Mode: leader"):
		return nodeState{serving: true, leader: true}, nil
	case strings.Contains(reply, "Mode: follower"):
		return nodeState{serving: true}, nil
	}
	return nodeState{}, nil
}
