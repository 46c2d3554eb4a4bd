// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package testserver starts real Redis, ZooKeeper, etcd and Consul servers for
// tests: never mocks. Each Start function runs a fresh server as a child
// process on 127.0.0.1 (or, with InHost, inside a netlab host), on free
// ports, with its data in t.TempDir(), waits until the server really serves
// requests, and stops it when the test ends.
// The returned Server can be killed, stopped, paused and restarted (same data
// directory, same ports) so that tests can inject faults.
//
// The servers are configured for fast tests:
//
//   - Redis: no persistence (--save "" --appendonly no); WithPersistence
//     turns on the append-only file with appendfsync always.
//   - ZooKeeper: standalone (the JVM runs ZooKeeperServerMain directly, with
//     -Xmx256m), tickTime=100ms, so session timeouts from
//     minSessionTimeout=500ms up to 10 minutes are legal; the admin server is off;
//     WithNoFsync sets forceSync=no.
//   - etcd: a single member with a 20ms heartbeat and a 200ms election
//     timeout; WithNoFsync adds --unsafe-no-fsync (etcd 3.5+ only).
//   - Consul: "agent -dev", whose state lives in memory only and is lost on
//     Kill, Stop and Restart; WithPersistence runs a single bootstrapping server with
//     its data in DataDir instead (its leader election takes about 2s more).
//     Both have session_ttl_min=1s, DNS and gRPC off.
//     A session's lock-delay is a per-session setting that the client passes
//     when it creates the session (api.SessionEntry.LockDelay); there is
//     nothing to set on the server for it.
//
// StartEtcdCluster and StartZooKeeperEnsemble start a replicated server of
// several nodes (see Cluster): each node is a Server of its own, on
// loopback or, with InHosts, in a netlab host of its own.
//
// Binaries are found through environment variables first, then in the cache
// directory that scripts/install-servers.sh fills (BinDir: $TOOZ_BIN_DIR,
// else $XDG_CACHE_HOME/tooz/bin, else ~/.cache/tooz/bin), then at Debian's
// paths. A variable that is set must name an executable:
//
//   - Redis: $TOOZ_REDIS_SERVER, then redis-server on $PATH.
//   - ZooKeeper: $TOOZ_JAVA (else java on $PATH) with the class path
//     $TOOZ_ZK_CLASSPATH (else Debian's /usr/share/java/zookeeper.jar).
//   - etcd (current): $TOOZ_ETCD, then BinDir()/etcd-<EtcdVersion>.
//   - etcd 3.4 (WithEtcd34): $TOOZ_ETCD34, then /usr/bin/etcd.
//   - Consul: $TOOZ_CONSUL, then BinDir()/consul-<ConsulVersion>.
//
// When a binary is missing the test is skipped, naming the install command,
// except when the environment variable CI is set (and not "false" or "0"):
// then the test fails, because CI must never skip a backend quietly.
package testserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/netlab"
)

// Versions of the servers that scripts/install-servers.sh builds from the
// wrapper modules in tools/. They must match tools/etcd/go.mod and
// tools/consul/go.mod (a test checks this).
const (
	// EtcdVersion is the version of go.etcd.io/etcd/server/v3 in tools/etcd.
	EtcdVersion = "3.6.16"
	// ConsulVersion is the version of github.com/hashicorp/consul in tools/consul.
	ConsulVersion = "1.16.1"
)

// InstallHint is the command that installs every server binary.
const InstallHint = "make servers (or scripts/install-servers.sh)"

const (
	defaultStartTimeout = 60 * time.Second
	stopGrace           = 5 * time.Second
	portAttempts        = 4
	logTailLines        = 50
	// probeTimeout bounds one readiness probe; a server that accepted the
	// connection before it serves may leave it hanging.
	probeTimeout = 500 * time.Millisecond
)

// BinDir is the directory where scripts/install-servers.sh caches the
// binaries it builds: $TOOZ_BIN_DIR, else $XDG_CACHE_HOME/tooz/bin, else
// $HOME/.cache/tooz/bin.
func BinDir() string {
	if d := os.Getenv("TOOZ_BIN_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "tooz", "bin")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "tooz", "bin")
}

// Option changes how a server is started.
type Option func(*config)

type config struct {
	etcd34       bool
	noFsync      bool
	persist      bool
	extra        []string
	startTimeout time.Duration
	host         *netlab.Host
	hosts        []*netlab.Host // InHosts: node i of a cluster runs in hosts[i]
}

// WithEtcd34 makes StartEtcd run Debian's etcd 3.4 ($TOOZ_ETCD34 or
// /usr/bin/etcd), the oldest supported server, instead of the current one.
func WithEtcd34() Option { return func(c *config) { c.etcd34 = true } }

// WithNoFsync trades durability against a machine crash for speed: etcd gets
// --unsafe-no-fsync (not supported by etcd 3.4, where it is ignored) and
// ZooKeeper forceSync=no. Data still survives Kill, which only ends the
// process. Other servers ignore it.
func WithNoFsync() Option { return func(c *config) { c.noFsync = true } }

// WithPersistence makes the data of every server survive Kill and Restart:
// Redis gets an append-only file with appendfsync always, and Consul runs
// as a real single-server agent with its data in DataDir instead of the
// in-memory -dev agent. etcd and ZooKeeper always keep their data.
func WithPersistence() Option { return func(c *config) { c.persist = true } }

// WithArgs appends extra command-line arguments for Redis, etcd and Consul.
// For ZooKeeper each argument is a "key=value" line added to zoo.cfg.
func WithArgs(args ...string) Option {
	return func(c *config) { c.extra = append(c.extra, args...) }
}

// WithStartTimeout sets how long a start or restart may take before the
// server is considered broken (default 60s).
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) { c.startTimeout = d }
}

// InHost runs the server inside the network namespace of a netlab host,
// listening on h.IP (client, peer and other ports alike) instead of
// 127.0.0.1: Addr becomes h.IP:port, and the test process reaches it over
// the lab's bridge, so h.Cut and friends cut the server off. Not for
// StartRedisTLS, whose certificate names 127.0.0.1.
func InHost(h *netlab.Host) Option { return func(c *config) { c.host = h } }

// Server is a running test server. Its exported fields do not change during
// its life, and its methods may be called from any goroutine (they are
// serialized), until the test's cleanup has stopped the server.
type Server struct {
	// Name is the kind of server: "redis", "zookeeper", "etcd", "etcd3.4" or
	// "consul".
	Name string
	// Addr is the host:port that clients use: Redis' and ZooKeeper's client
	// port, etcd's client URL host (http://Addr) and Consul's HTTP API.
	Addr string
	// Port is the port in Addr.
	Port int
	// DataDir is the server's data directory; Restart keeps it.
	DataDir string
	// LogPath is the file that receives the server's output of every start.
	LogPath string

	t       testing.TB
	b       *backend
	cfg     config
	ports   []int // ports[0] is Port; the others are backend specific
	workDir string

	mu     sync.Mutex
	proc   *process
	starts int
	closed bool
}

// process is one run of the server binary.
type process struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	err      error         // from cmd.Wait, valid after done
	stopping bool          // we ended it (Kill, Stop, Restart); under Server.mu
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// backend describes how to run one kind of server.
type backend struct {
	name   string
	nports int
	// command returns the binary and arguments for a start; it may write
	// configuration files into s.workDir.
	command func(s *Server) (path string, args []string, err error)
	// probe returns nil once the server serves clients.
	probe func(ctx context.Context, s *Server) error
}

var errClosed = errors.New("testserver: server already cleaned up")

// missing skips the test (or fails it under CI) because a binary is missing.
func missing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("testserver: %s; install the test servers with %s", what, InstallHint)
	if inCI() {
		t.Fatalf("%s (CI is set: a missing backend fails the run)", msg)
		return
	}
	t.Skip(msg)
}

func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// findBinary returns the path of a server binary: $env when it is set (a
// set variable that names no executable is an error, never ignored), else
// the first candidate that is an executable file; a candidate without a
// slash is looked up on $PATH. When nothing is found it skips or fails the
// test (see missing), describing what it looked for.
func findBinary(t testing.TB, env, what string, candidates ...string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		if p, ok := executable(v); ok {
			return p
		}
		missing(t, fmt.Sprintf("%s not found: $%s=%q is not an executable", what, env, v))
		return ""
	}
	for _, c := range candidates {
		if p, ok := executable(c); ok {
			return p
		}
	}
	missing(t, fmt.Sprintf("%s not found ($%s, %s)", what, env, strings.Join(candidates, ", ")))
	return ""
}

func executable(c string) (string, bool) {
	if !strings.Contains(c, "/") {
		p, err := exec.LookPath(c)
		return p, err == nil
	}
	fi, err := os.Stat(c)
	return c, err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func newConfig(opts []Option) config {
	cfg := config{startTimeout: defaultStartTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// newServer creates a Server that is not running yet, with its work and
// data directories, and registers its cleanup.
func newServer(t testing.TB, b *backend, cfg config) *Server {
	t.Helper()
	work := t.TempDir()
	s := &Server{
		Name:    b.name,
		DataDir: filepath.Join(work, "data"),
		LogPath: filepath.Join(work, b.name+".log"),
		t:       t,
		b:       b,
		cfg:     cfg,
		workDir: work,
	}
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		t.Fatalf("testserver: %v", err)
	}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(s.cleanup)
	return s
}

// start creates the Server, starts it and registers its cleanup.
func start(t testing.TB, b *backend, opts []Option) *Server {
	t.Helper()
	s := newServer(t, b, newConfig(opts))

	var lastErr error
	for attempt := 1; attempt <= portAttempts; attempt++ {
		ports, err := freePorts(b.nports)
		if err != nil {
			t.Fatalf("testserver: %s: %v", b.name, err)
		}
		s.ports = ports
		s.Port = ports[0]
		s.Addr = net.JoinHostPort(s.ip(), strconv.Itoa(s.Port))
		s.mu.Lock()
		began := time.Now()
		err = s.startLocked()
		s.mu.Unlock()
		if err == nil {
			t.Logf("testserver: %s ready at %s in %v (pid %d, log %s)",
				b.name, s.Addr, time.Since(began).Round(time.Millisecond), s.pid(), s.LogPath)
			return s
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
		t.Logf("testserver: %s: port conflict on attempt %d, retrying on new ports: %v", b.name, attempt, err)
	}
	t.Fatalf("testserver: %s did not start: %v\n%s", b.name, lastErr, s.logTail())
	return nil
}

// ip is the address the server listens on.
func (s *Server) ip() string {
	if s.cfg.host != nil {
		return s.cfg.host.IP
	}
	return "127.0.0.1"
}

// Pid is the server process's ID (0 while it is stopped), for tests and
// benchmarks that read its resource use.
func (s *Server) Pid() int { return s.pid() }

func (s *Server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

var (
	errPortTaken = errors.New("port already in use")
	// errAborted ends a wait that another node's failure made pointless.
	errAborted = errors.New("wait aborted")
)

// startLocked starts a process and waits until it serves. s.mu is held.
func (s *Server) startLocked() error {
	p, offset, err := s.launchLocked()
	if err != nil {
		return err
	}
	return s.awaitLocked(p, offset, nil)
}

// launchLocked starts a process without waiting for it to serve and
// returns it with the offset of its start in the log. s.mu is held.
func (s *Server) launchLocked() (*process, int64, error) {
	if s.closed {
		return nil, 0, errClosed
	}
	if s.proc != nil && !s.proc.exited() {
		return nil, 0, errors.New("testserver: already running")
	}
	path, args, err := s.b.command(s)
	if err != nil {
		return nil, 0, err
	}
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, err
	}
	defer logf.Close() // the child has its own copy
	offset, _ := logf.Seek(0, io.SeekEnd)
	s.starts++
	fmt.Fprintf(logf, "==== testserver: start %d at %s: %s %s\n", s.starts,
		time.Now().Format(time.RFC3339Nano), path, strings.Join(args, " "))

	var cmd *exec.Cmd
	if s.cfg.host != nil {
		cmd = s.cfg.host.Command(path, args...) // execs path: the pid is the server's
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.workDir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: signals reach any children (Redis forks), and
		// a Ctrl-C on the terminal reaches only the test binary.
		Setpgid: true,
		// The server dies with the test binary, even on SIGKILL.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := spawn(cmd); err != nil {
		return nil, 0, fmt.Errorf("start %s: %w", path, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.proc = p
	return p, offset, nil
}

// awaitLocked waits until the process p, launched at log offset, serves, or
// abort (which may be nil) is closed; if it does not serve, it kills p and
// tells a port conflict (errPortTaken) from other failures. s.mu is held.
func (s *Server) awaitLocked(p *process, offset int64, abort <-chan struct{}) error {
	if err := s.waitReady(p, abort); err != nil {
		exitedByItself := p.exited()
		p.signal(syscall.SIGKILL)
		<-p.done
		if errors.Is(err, errPortTaken) {
			return err
		}
		if exitedByItself && s.logSince(offset, "address already in use") {
			return fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return err
	}
	return nil
}

// waitReady polls the backend's probe until it succeeds, the process exits,
// abort is closed (errAborted) or the start timeout passes.
func (s *Server) waitReady(p *process, abort <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.startTimeout)
	defer cancel()
	interval := 10 * time.Millisecond
	var lastErr error
	for {
		if p.exited() {
			return fmt.Errorf("%s exited during start-up: %v", s.Name, p.err)
		}
		pctx, pcancel := context.WithTimeout(ctx, probeTimeout)
		err := s.b.probe(pctx, s)
		pcancel()
		if err == nil {
			// Someone else's server may have taken the port between
			// freePorts and our bind: make sure the answer came from ours.
			owned, oerr := listensOn(p.cmd.Process.Pid, s.Port)
			if oerr != nil || owned {
				return nil
			}
			err = fmt.Errorf("port %d answers, but not from pid %d", s.Port, p.cmd.Process.Pid)
			if p.exited() {
				return fmt.Errorf("%w: %v", errPortTaken, err)
			}
		}
		lastErr = err
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s not ready after %v: %v", s.Name, s.cfg.startTimeout, lastErr)
		case <-abort:
			timer.Stop()
			return fmt.Errorf("%s: %w (another node failed)", s.Name, errAborted)
		case <-p.done:
			timer.Stop()
		case <-timer.C:
		}
		if interval < 100*time.Millisecond {
			interval += 10 * time.Millisecond
		}
	}
}

var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnReq)
)

type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

// spawn starts cmd from one goroutine locked to its OS thread for the life
// of the test binary. Linux sends Pdeathsig when the *thread* that forked
// the child exits, and the Go runtime may end a thread (when a goroutine
// locked to it returns); a thread that never ends kills the servers only
// when the whole test binary dies.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for r := range spawnReqs {
				r.errc <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, errc: make(chan error, 1)}
	spawnReqs <- r
	return <-r.errc
}

// Spawn starts cmd the way the servers are started: from the one OS thread
// that lives as long as the test binary, so that a Pdeathsig in
// cmd.SysProcAttr fires only when the test binary dies, never because the
// Go runtime ended the thread that forked the child (it does so when a
// goroutine locked to a thread returns, e.g. after entering a network
// namespace). Use it instead of cmd.Start for any child with Pdeathsig.
func Spawn(cmd *exec.Cmd) error { return spawn(cmd) }

// signal sends sig to the process group of p.
func (p *process) signal(sig syscall.Signal) {
	if p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil {
		_ = syscall.Kill(pid, sig)
	}
}

// stopLocked ends the running process: gracefully with SIGTERM (then SIGKILL
// after a grace period), or at once with SIGKILL. s.mu is held.
func (s *Server) stopLocked(graceful bool) {
	p := s.proc
	if p == nil || p.exited() {
		return
	}
	p.stopping = true
	if graceful {
		p.signal(syscall.SIGTERM)
		p.signal(syscall.SIGCONT) // a paused server must run to handle SIGTERM
		timer := time.NewTimer(stopGrace)
		defer timer.Stop()
		select {
		case <-p.done:
			return
		case <-timer.C:
			s.t.Logf("testserver: %s did not stop within %v of SIGTERM; sending SIGKILL", s.Name, stopGrace)
		}
	}
	p.signal(syscall.SIGKILL)
	<-p.done
}

// Kill ends the server at once with SIGKILL, as a crash would, and waits
// until it has exited. It does nothing when the server is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.stopLocked(false)
	}
}

// Stop ends the server gracefully (SIGTERM, then SIGKILL after 5 seconds)
// and waits until it has exited. It does nothing when the server is not
// running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.stopLocked(true)
	}
}

// Restart stops the server gracefully if it is running, starts it again with
// the same data directory and the same ports, and waits until it serves.
// Whether data survives depends on the server (see WithPersistence). A
// failure is reported with t.Errorf (so the test fails even if the caller
// ignores it) and returned, which makes Restart usable from any goroutine.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.stopLocked(true)
	began := time.Now()
	var err error
	// The old process is gone, but a port can stay busy for a moment (or be
	// taken by another server meanwhile): retry the same ports a few times.
	for attempt := 1; attempt <= portAttempts; attempt++ {
		if err = s.startLocked(); !errors.Is(err, errPortTaken) {
			break
		}
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond) // back-off, not synchronization
	}
	if err != nil {
		err = fmt.Errorf("testserver: %s restart failed: %w", s.Name, err)
		s.t.Errorf("%v\n%s", err, s.logTail())
		return err
	}
	s.t.Logf("testserver: %s restarted at %s in %v (pid %d)", s.Name, s.Addr,
		time.Since(began).Round(time.Millisecond), s.proc.cmd.Process.Pid)
	return nil
}

// Pause freezes the server with SIGSTOP: it keeps its connections open but
// answers nothing, like a stalled machine, until Resume. It returns once
// every thread of the server has stopped, so no request is answered after
// Pause returns.
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.proc == nil || s.proc.exited() {
		return
	}
	s.proc.signal(syscall.SIGSTOP)
	// SIGSTOP is delivered asynchronously: a thread busy on another CPU can
	// still answer a request for a moment. Wait until all threads stopped.
	deadline := time.Now().Add(5 * time.Second)
	for !allThreadsStopped(s.proc.cmd.Process.Pid) {
		if s.proc.exited() {
			return
		}
		if time.Now().After(deadline) {
			s.t.Errorf("testserver: %s (pid %d) not stopped 5s after SIGSTOP", s.Name, s.proc.cmd.Process.Pid)
			return
		}
		time.Sleep(time.Millisecond) // polling /proc
	}
}

// allThreadsStopped reports whether every thread of pid is in the stopped
// state (or gone), from /proc/PID/task/TID/stat.
func allThreadsStopped(pid int) bool {
	taskDir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(taskDir)
	if err != nil {
		return true // gone
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(taskDir, task.Name(), "stat"))
		if err != nil {
			continue // thread gone
		}
		// "tid (comm) S ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) {
			continue
		}
		switch stat[i+2] {
		case 'T', 't', 'Z', 'X':
		default:
			return false
		}
	}
	return true
}

// Resume lets a paused server run again with SIGCONT.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed && s.proc != nil {
		s.proc.signal(syscall.SIGCONT)
	}
}

// Running reports whether the server process is alive (it may be paused).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exited()
}

// cleanup stops the server at the end of the test and, if the test failed,
// logs the tail of the server's log.
func (s *Server) cleanup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	unexpected := s.proc != nil && s.proc.exited() && !s.proc.stopping
	s.stopLocked(true)
	if unexpected {
		s.t.Logf("testserver: %s exited by itself before the end of the test: %v", s.Name, s.proc.err)
	}
	if s.t.Failed() {
		s.t.Logf("testserver: %s at %s, last %d lines of %s:\n%s", s.Name, s.Addr, logTailLines, s.LogPath, s.logTail())
	}
}

// logTail returns the last lines of the server's log.
func (s *Server) logTail() string {
	f, err := os.Open(s.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	// Read at most the last 256 KiB; enough for 50 lines of any server.
	const maxRead = 256 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxRead {
		_, _ = f.Seek(fi.Size()-maxRead, io.SeekStart)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 2*logTailLines {
			lines = lines[len(lines)-logTailLines:]
		}
	}
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return strings.Join(lines, "\n")
}

// logSince reports whether the log, from offset on, contains needle
// (case-insensitively).
func (s *Server) logSince(offset int64, needle string) bool {
	data, err := os.ReadFile(s.LogPath)
	if err != nil || int64(len(data)) < offset {
		return false
	}
	return bytes.Contains(bytes.ToLower(data[offset:]), []byte(needle))
}
