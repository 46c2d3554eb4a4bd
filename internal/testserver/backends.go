// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// probeClient is the HTTP client of the readiness probes: no keep-alive, so
// that a probe never reuses a connection to a previous server process. Its
// dials are bounded on their own: the transport finishes a dial in the
// background after the request gave up, and a dial to a node that is cut
// off (packets dropped) would otherwise outlive the test by minutes.
var probeClient = &http.Client{Transport: &http.Transport{
	DisableKeepAlives: true,
	DialContext:       (&net.Dialer{Timeout: probeTimeout}).DialContext,
}}

// StartRedis starts a Redis server without persistence (WithPersistence adds
// an append-only file) and waits until it answers PING.
func StartRedis(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin := findBinary(t, "TOOZ_REDIS_SERVER", "redis-server", "redis-server", "/usr/bin/redis-server")
	return start(t, &backend{
		name:   "redis",
		nports: 1,
		command: func(s *Server) (string, []string, error) {
			return bin, redisArgs(s, "--port", strconv.Itoa(s.Port)), nil
		},
		probe: probeRedis,
	}, opts)
}

// redisArgs is a redis-server command line: listen (the port flags), then
// what every test server shares — loopback (or InHost's address) only, the data dir, no RDB
// snapshots, AOF only WithPersistence — then WithArgs.
func redisArgs(s *Server, listen ...string) []string {
	args := append(listen,
		"--bind", s.ip(),
		"--dir", s.DataDir,
		"--daemonize", "no",
		"--save", "",
		"--logfile", "",
	)
	if s.cfg.host != nil {
		// Protected mode answers only loopback clients; the lab's
		// addresses are private to the machine (see netlab).
		args = append(args, "--protected-mode", "no")
	}
	if s.cfg.persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	return append(args, s.cfg.extra...)
}

// probeRedis sends PING in RESP and expects +PONG (not -LOADING ...).
func probeRedis(ctx context.Context, s *Server) error {
	reply, err := tcpExchange(ctx, s.Addr, "*1\r\n$4\r\nPING\r\n", true)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(reply, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(reply))
	}
	return nil
}

// tcpExchange sends req to addr and returns the first line of the answer, or
// everything up to EOF when firstLine is false.
func tcpExchange(ctx context.Context, addr, req string, firstLine bool) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		return "", err
	}
	if firstLine {
		return bufio.NewReader(conn).ReadString('\n')
	}
	b, err := io.ReadAll(io.LimitReader(conn, 64<<10))
	return string(b), err
}

// ZooKeeper's Debian jars; zookeeper.jar's manifest names its dependencies.
const (
	debianZKJar        = "/usr/share/java/zookeeper.jar"
	debianSLF4JSimple  = "/usr/share/java/slf4j-simple.jar"
	zooKeeperMainClass = "org.apache.zookeeper.server.ZooKeeperServerMain"
)

// StartZooKeeper starts a standalone ZooKeeper (the JVM runs
// ZooKeeperServerMain directly) with tickTime=100ms and waits until it
// answers the "srvr" four-letter word as a serving server.
func StartZooKeeper(t testing.TB, opts ...Option) *Server {
	t.Helper()
	java, classpath := zooKeeperRuntime(t)
	return start(t, &backend{
		name:   "zookeeper",
		nports: 1,
		command: func(s *Server) (string, []string, error) {
			cfgPath, err := writeZooCfg(s, false)
			if err != nil {
				return "", nil, err
			}
			return java, zooKeeperStandaloneArgs(classpath, cfgPath), nil
		},
		probe: probeZooKeeper,
	}, opts)
}

// zooKeeperStandaloneArgs is the JVM command line of a standalone server
// reading cfgPath; props are more -D system properties.
func zooKeeperStandaloneArgs(classpath, cfgPath string, props ...string) []string {
	args := []string{
		"-Xms32m", "-Xmx256m",
		"-XX:+UseSerialGC",
		"-XX:TieredStopAtLevel=1", // quick start-up beats peak speed here
		"-Djava.net.preferIPv4Stack=true",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
	}
	args = append(args, props...)
	return append(args, "-cp", classpath, zooKeeperMainClass, cfgPath)
}

// writeZooCfg writes s's zoo.cfg (tickTime=100ms, the client port on s's
// address — the TLS secureClientPort when secure, else clientPort — the 4lw
// commands the probes use, forceSync=no with WithNoFsync, then more and the
// WithArgs lines) and returns its path.
func writeZooCfg(s *Server, secure bool, more ...string) (string, error) {
	port := "clientPort"
	if secure {
		port = "secureClientPort"
	}
	lines := []string{
		"tickTime=100",
		"minSessionTimeout=500",
		"maxSessionTimeout=600000",
		"dataDir=" + s.DataDir,
		port + "=" + strconv.Itoa(s.Port),
		port + "Address=" + s.ip(),
		"maxClientCnxns=0",
		"admin.enableServer=false",
		"4lw.commands.whitelist=srvr,ruok,stat,mntr,cons,dump",
		"preAllocSize=4096",
	}
	lines = append(lines, more...)
	if s.cfg.noFsync {
		lines = append(lines, "forceSync=no")
	}
	lines = append(lines, s.cfg.extra...)
	path := filepath.Join(s.workDir, "zoo.cfg")
	return path, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// zooKeeperRuntime finds java and ZooKeeper's class path, or skips (fails
// under CI) the test.
func zooKeeperRuntime(t testing.TB) (java, classpath string) {
	t.Helper()
	java = findBinary(t, "TOOZ_JAVA", "java (for ZooKeeper)", "java", "/usr/bin/java")
	classpath = os.Getenv("TOOZ_ZK_CLASSPATH")
	if classpath == "" {
		if _, err := os.Stat(debianZKJar); err != nil {
			missing(t, "ZooKeeper not found ("+debianZKJar+" of Debian's zookeeper package, or $TOOZ_ZK_CLASSPATH)")
		}
		classpath = debianZKJar
		// Without an SLF4J binding ZooKeeper logs nothing at all.
		if _, err := os.Stat(debianSLF4JSimple); err == nil {
			classpath += ":" + debianSLF4JSimple
		}
	}
	return java, classpath
}

// probeZooKeeper asks "srvr": a serving server answers with its mode.
func probeZooKeeper(ctx context.Context, s *Server) error {
	reply, err := tcpExchange(ctx, s.Addr, "srvr", false)
	if err != nil {
		return err
	}
	if !strings.Contains(reply, "Mode: ") {
		return fmt.Errorf("srvr answered %q", strings.TrimSpace(reply))
	}
	return nil
}

// StartEtcd starts a single-member etcd and waits until /health says it is
// healthy. By default it runs the current etcd (EtcdVersion) that
// scripts/install-servers.sh builds from tools/etcd; WithEtcd34 runs
// Debian's etcd 3.4 instead.
func StartEtcd(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	name, bin := "etcd", ""
	if cfg.etcd34 {
		name = "etcd3.4"
		bin = findBinary(t, "TOOZ_ETCD34", "etcd 3.4 (Debian's etcd-server)", "/usr/bin/etcd")
	} else {
		bin = findBinary(t, "TOOZ_ETCD", "etcd "+EtcdVersion, filepath.Join(BinDir(), "etcd-"+EtcdVersion))
	}
	return start(t, &backend{
		name:   name,
		nports: 2, // client, peer
		command: func(s *Server) (string, []string, error) {
			client := fmt.Sprintf("http://%s:%d", s.ip(), s.ports[0])
			peer := fmt.Sprintf("http://%s:%d", s.ip(), s.ports[1])
			member := "tooz-test"
			args := []string{
				"--name", member,
				"--data-dir", s.DataDir,
				"--listen-client-urls", client,
				"--advertise-client-urls", client,
				"--listen-peer-urls", peer,
				"--initial-advertise-peer-urls", peer,
				"--initial-cluster", member + "=" + peer,
				"--initial-cluster-state", "new",
				"--initial-cluster-token", "tooz-test-" + strconv.Itoa(s.ports[1]),
				"--heartbeat-interval", "20",
				"--election-timeout", "200",
				"--log-outputs", "stderr",
			}
			if s.cfg.etcd34 {
				args = append(args, "--logger", "zap")
			} else if s.cfg.noFsync {
				args = append(args, "--unsafe-no-fsync")
			}
			return bin, append(args, s.cfg.extra...), nil
		},
		probe: probeEtcd,
	}, opts)
}

// probeEtcd expects {"health":"true"} from /health, which etcd only gives
// with a leader and after a successful linearizable read (3.5+).
func probeEtcd(ctx context.Context, s *Server) error {
	body, err := httpGet(ctx, "http://"+s.Addr+"/health")
	if err != nil {
		return err
	}
	var h struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return fmt.Errorf("/health: %v: %q", err, body)
	}
	if h.Health != "true" {
		return fmt.Errorf("/health: %s", body)
	}
	return nil
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %q", url, resp.Status, body)
	}
	return body, nil
}

// StartConsul starts Consul (ConsulVersion, built by scripts/install-servers.sh
// from tools/consul) as an in-memory -dev agent, or with WithPersistence as a
// single server that bootstraps itself and keeps its data in DataDir, and
// waits until /v1/status/leader names a leader. Its HTTP API is at Addr.
func StartConsul(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin := findBinary(t, "TOOZ_CONSUL", "consul "+ConsulVersion, filepath.Join(BinDir(), "consul-"+ConsulVersion))
	return start(t, &backend{
		name:   "consul",
		nports: 4, // HTTP, server RPC, Serf LAN, Serf WAN
		command: func(s *Server) (string, []string, error) {
			args := []string{
				"agent",
				"-node", fmt.Sprintf("tooz-test-%d", s.ports[0]),
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
				"-log-level", "info",
			}
			if s.cfg.persist {
				args = append(args,
					"-server", "-bootstrap",
					"-data-dir", s.DataDir,
					"-hcl", `leave_on_terminate = false`,
					"-hcl", `performance { raft_multiplier = 1 }`,
				)
			} else {
				args = append(args, "-dev")
			}
			return bin, append(args, s.cfg.extra...), nil
		},
		probe: probeConsul,
	}, opts)
}

// probeConsul expects a non-empty leader address from /v1/status/leader.
func probeConsul(ctx context.Context, s *Server) error {
	body, err := httpGet(ctx, "http://"+s.Addr+"/v1/status/leader")
	if err != nil {
		return err
	}
	var leader string
	if err := json.Unmarshal(body, &leader); err != nil {
		return fmt.Errorf("/v1/status/leader: %v: %q", err, body)
	}
	if leader == "" {
		return fmt.Errorf("no leader yet")
	}
	return nil
}
