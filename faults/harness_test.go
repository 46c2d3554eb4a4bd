// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/all"
	"github.com/toozgo/tooz/faults/checker"
	"github.com/toozgo/tooz/faults/history"
	"github.com/toozgo/tooz/faults/nemesis"
	"github.com/toozgo/tooz/faults/register"
	"github.com/toozgo/tooz/internal/netlab"
	"github.com/toozgo/tooz/internal/testserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/toozgo/tooz/internal/testserver.spawn.func1.1"),
		// go-redis probes a node it could not dial once a second from a
		// goroutine that sees its pool closed only when it wakes: up to
		// 1 s after Close, once a test has killed a Redis node.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildDir  string
)

// workloadBinary builds faults/workload once per test binary (with -race
// when the tests run with it).
func workloadBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "tooz-faults-bin")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "workload")
		args := []string{"build", "-o", buildBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/toozgo/tooz/faults/workload")
		// go test puts its own go command first on the test's $PATH.
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// backendSpec says how to start one backend and what to expect of it.
type backendSpec struct {
	name  string
	start func(t *testing.T, opts ...testserver.Option) *testserver.Server
	url   func(addr, ns string) string
	// expiryFactor: a crashed holder's entries are freed within
	// expiryFactor × TTL (Consul: 2).
	expiryFactor int
	// stateLoss: a restart loses every session and counter.
	stateLoss bool
	// startCluster, when set instead of start, starts a replicated
	// backend; url then gets every node's address, comma-separated.
	startCluster func(t *testing.T, lab *netlab.Lab) *testserver.Cluster
	// workloadArgs are appended to every workload process's command line.
	workloadArgs []string
	// revoke revokes a holder's lock or session out of band (revoke_test.go).
	revoke revokeFunc
	// urlOf, when set, replaces url for backends whose URL depends on
	// the server (a kubeconfig written for the address).
	urlOf func(r *run, addr string) string
}

// kubes maps a kube-apiserver's Server to its testserver.Kube, for urlOf.
var kubes sync.Map

var backends = map[string]backendSpec{
	"etcd": {
		name:   "etcd",
		revoke: revokeEtcd,
		start: func(t *testing.T, opts ...testserver.Option) *testserver.Server {
			return testserver.StartEtcd(t, append(opts, testserver.WithNoFsync())...)
		},
		url:          func(addr, ns string) string { return "etcd://" + addr + "?namespace=" + ns },
		expiryFactor: 1,
	},
	"redis": {
		name:   "redis",
		revoke: revokeRedis,
		start: func(t *testing.T, opts ...testserver.Option) *testserver.Server {
			return testserver.StartRedis(t, opts...)
		},
		url:          func(addr, ns string) string { return "redis://" + addr + "/0?namespace=" + ns },
		expiryFactor: 1,
		stateLoss:    true,
	},
	"redis-aof": {
		name:   "redis-aof",
		revoke: revokeRedis,
		start: func(t *testing.T, opts ...testserver.Option) *testserver.Server {
			return testserver.StartRedis(t, append(opts, testserver.WithPersistence())...)
		},
		url:          func(addr, ns string) string { return "redis://" + addr + "/0?namespace=" + ns },
		expiryFactor: 1,
	},
	"zookeeper": {
		name:   "zookeeper",
		revoke: revokeZooKeeper,
		start: func(t *testing.T, opts ...testserver.Option) *testserver.Server {
			return testserver.StartZooKeeper(t, append(opts, testserver.WithNoFsync())...)
		},
		url:          func(addr, ns string) string { return "zookeeper://" + addr + "?namespace=" + ns },
		expiryFactor: 1,
	},
	"consul": {
		name:   "consul",
		revoke: revokeConsul,
		start: func(t *testing.T, opts ...testserver.Option) *testserver.Server {
			return testserver.StartConsul(t, opts...)
		},
		url:          func(addr, ns string) string { return "consul://" + addr + "?namespace=" + ns },
		expiryFactor: 2,
		stateLoss:    true,
	},
	"kubernetes": {
		name:   "kubernetes",
		revoke: revokeKube,
		start: func(t *testing.T, opts ...testserver.Option) *testserver.Server {
			k := testserver.StartKube(t, opts...)
			kubes.Store(k.Server, k)
			return k.Server
		},
		urlOf: func(r *run, addr string) string {
			v, ok := kubes.Load(r.srv)
			if !ok {
				r.t.Fatal("faults: no kube-apiserver behind this run")
			}
			path, err := v.(*testserver.Kube).KubeconfigVia(addr)
			if err != nil {
				r.t.Fatal(err)
			}
			return "k8s://?kubeconfig=" + url.QueryEscape(path) + "&namespace=" + r.ns
		},
		expiryFactor: 1,
	},
	"consul-persistent": {
		name:   "consul-persistent",
		revoke: revokeConsul,
		start: func(t *testing.T, opts ...testserver.Option) *testserver.Server {
			return testserver.StartConsul(t, append(opts, testserver.WithPersistence())...)
		},
		url:          func(addr, ns string) string { return "consul://" + addr + "?namespace=" + ns },
		expiryFactor: 2,
	},
}

const (
	lockRes  = "L"
	leadRes  = "E"
	groupRes = "G"
)

// run is one fault-test run: a backend, a register, a nemesis and the
// workload processes, all recording into dir. Each process and the backend
// run in their own host (network namespace) of one netlab.Lab; the register
// listens on the lab's gateway; each process reaches the backend through
// its own Proxy, which listens in the backend's host (so that a cut of the
// process from the backend's address cuts the proxy off too) and can slow
// the link down.
type run struct {
	t       *testing.T
	spec    backendSpec
	lab     *netlab.Lab
	bhost   *netlab.Host        // the backend's host (nil for a cluster)
	srv     *testserver.Server  // nil for a cluster
	cluster *testserver.Cluster // nil for a single server
	dir     string
	ns      string // the namespace of the run
	ttl     time.Duration
	slack   time.Duration
	bin     string
	hist    *history.Writer
	reg     *register.Register
	nem     *nemesis.Nemesis
	linear  bool
	args    []string // more workload flags, for the processes started from now on

	mu    sync.Mutex
	procs map[string]*proc
	next  int
}

// proc is one workload process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr string
	host   *netlab.Host     // the process's own network namespace
	px     *nemesis.Proxy   // the process's own way to the backend (to the first node of a cluster)
	pxs    []*nemesis.Proxy // one per backend address: px, then the other nodes'
	done   chan struct{}
	err    error
	killed bool
}

func (p *proc) Name() string { return p.name }
func (p *proc) Pid() int     { return p.cmd.Process.Pid }
func (p *proc) Kill() error {
	p.killed = true
	err := p.cmd.Process.Kill()
	<-p.done
	return err
}

func newRun(t *testing.T, spec backendSpec, ttl time.Duration, nprocs int) *run {
	t.Helper()
	bin := workloadBinary(t)
	lab := netlab.New(t) // first: its cleanup runs after every process ended
	var (
		bhost   *netlab.Host
		srv     *testserver.Server
		cluster *testserver.Cluster
	)
	if spec.startCluster != nil {
		cluster = spec.startCluster(t, lab)
	} else {
		bhost = lab.AddHost("backend")
		srv = spec.start(t, testserver.InHost(bhost))
	}
	dir := t.TempDir()
	if keep := os.Getenv("TOOZ_FAULTS_KEEP"); keep != "" {
		dir = filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
		_ = os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h, err := history.Create(filepath.Join(dir, "test.jsonl"), "test")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := register.StartOn(h, lab.Gateway()+":0")
	if err != nil {
		t.Fatal(err)
	}
	r := &run{
		t: t, spec: spec, lab: lab, bhost: bhost, srv: srv, cluster: cluster, dir: dir, ttl: ttl, bin: bin, hist: h, reg: reg,
		ns:    fmt.Sprintf("faults-%d", time.Now().UnixNano()),
		slack: max(2*time.Second, ttl),
		nem:   &nemesis.Nemesis{H: h},
		procs: map[string]*proc{},
	}
	if srv != nil {
		r.nem.Backend = srv
	}
	r.nem.BackendIPs = r.backendIPs()
	t.Cleanup(func() {
		r.mu.Lock()
		ps := make([]*proc, 0, len(r.procs))
		for _, p := range r.procs {
			ps = append(ps, p)
		}
		r.mu.Unlock()
		for _, p := range ps {
			_ = syscall.Kill(p.Pid(), syscall.SIGCONT)
			_ = p.cmd.Process.Kill()
			<-p.done
			for _, px := range p.pxs {
				_ = px.Close()
			}
		}
		_ = reg.Close()
		_ = h.Close()
	})
	// The declared characteristics decide whether overlaps are bugs.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var addrs []string
	for _, b := range r.backendTargets() {
		addrs = append(addrs, b.addr)
	}
	probeURL := r.url(strings.Join(addrs, ","))
	c, err := tooz.Open(ctx, probeURL, "probe", tooz.WithTimeout(ttl))
	if err != nil {
		t.Fatalf("open %s: %v", probeURL, err)
	}
	r.linear = slices.Contains(c.Characteristics(), tooz.Linearizable)
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range nprocs {
		r.startProc()
	}
	return r
}

// url is the backend's URL for the comma-separated addresses addrs.
func (r *run) url(addrs string) string {
	if r.spec.urlOf != nil {
		return r.spec.urlOf(r, addrs)
	}
	return r.spec.url(addrs, r.ns)
}

// target is one server a process reaches through a proxy in the server's
// own host, so that cutting the process off from that host's address cuts
// the proxy off too.
type target struct {
	host *netlab.Host
	addr string
}

// backendTargets is the server, or every node of a cluster.
func (r *run) backendTargets() []target {
	if r.cluster != nil {
		ts := make([]target, len(r.cluster.Nodes))
		for i, n := range r.cluster.Nodes {
			ts[i] = target{host: r.cluster.Hosts[i], addr: n.Addr}
		}
		return ts
	}
	return []target{{host: r.bhost, addr: r.srv.Addr}}
}

// backendIPs are the addresses a client cut separates a process from.
func (r *run) backendIPs() []string {
	var ips []string
	for _, t := range r.backendTargets() {
		ips = append(ips, t.host.IP)
	}
	return ips
}

func (r *run) expiryBound() time.Duration { return time.Duration(r.spec.expiryFactor) * r.ttl }

// startProc starts a new workload process with the next member ID.
func (r *run) startProc() *proc {
	r.mu.Lock()
	r.next++
	name := fmt.Sprintf("p%d", r.next)
	r.mu.Unlock()
	stderr := filepath.Join(r.dir, name+".stderr")
	f, err := os.Create(stderr)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	host := r.lab.AddHost(name)
	var pxs []*nemesis.Proxy
	var via []string
	closeProxies := func() {
		for _, px := range pxs {
			_ = px.Close()
		}
	}
	for _, b := range r.backendTargets() {
		ln, err := b.host.Listen("tcp4", b.host.IP+":0")
		if err != nil {
			closeProxies()
			r.t.Fatal(err)
		}
		px := nemesis.ServeProxy(ln, b.addr)
		pxs = append(pxs, px)
		via = append(via, px.Addr())
	}
	cmd := host.Command(r.bin,
		"-url", r.url(strings.Join(via, ",")), "-id", name, "-history", filepath.Join(r.dir, name+".jsonl"),
		"-register", r.reg.URL(), "-timeout", r.ttl.String(),
		"-lock", lockRes, "-election", leadRes, "-group", groupRes)
	cmd.Args = append(cmd.Args, r.spec.workloadArgs...)
	cmd.Args = append(cmd.Args, r.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := testserver.Spawn(cmd); err != nil { // not cmd.Start: see Spawn
		closeProxies()
		r.t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, stderr: stderr, host: host, px: pxs[0], pxs: pxs, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	r.hist.Add(history.Rec{Type: history.Nemesis, F: checker.StartClient, Proc: name})
	r.mu.Lock()
	r.procs[name] = p
	r.mu.Unlock()
	r.waitFor(name+" started", 30*time.Second, func(recs []history.Rec) bool {
		for _, rec := range recs {
			if rec.Proc == name && rec.Type == history.Process && rec.F == "start" {
				return true
			}
		}
		return false
	})
	return p
}

func (r *run) live() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for n, p := range r.procs {
		if !p.killed {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func (r *run) proc(name string) *proc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.procs[name]
}

// records reads every history of the run.
func (r *run) records() []history.Rec {
	recs, err := history.ReadDir(r.dir)
	if err != nil {
		r.t.Fatalf("read histories: %v", err)
	}
	return recs
}

// waitFor reads the histories until cond holds; after d it records a
// checker.Stuck violation (the checker fails the run on it).
// It polls the files: the processes share nothing else with the test.
func (r *run) waitFor(what string, d time.Duration, cond func([]history.Rec) bool) []history.Rec {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		recs := r.records()
		if cond(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			// A violation for the checker (which may know it), not a
			// test failure here: the run goes on to the check.
			r.hist.Add(history.Rec{Type: history.Process, F: checker.Stuck, Proc: "test", Note: fmt.Sprintf("%s: not seen within %v", what, d)})
			r.t.Logf("faults: %s: not seen within %v", what, d)
			return recs
		}
		time.Sleep(50 * time.Millisecond) // polling the history files
	}
}

// holder waits for the next accepted fenced write to res and returns the
// process that made it: the current lock holder or leader.
func (r *run) holder(res string, d time.Duration) *proc {
	r.t.Helper()
	select {
	case name := <-r.reg.NextWriter(res):
		return r.proc(name)
	case <-time.After(d):
		r.hist.Add(history.Rec{Type: history.Process, F: checker.Stuck, Proc: "test", Note: fmt.Sprintf("nobody wrote to %s within %v", res, d)})
		r.t.Logf("faults: nobody wrote to %s within %v; fault skipped", res, d)
		return nil
	}
}

// entered reports whether anybody but not entered section f of res after t0.
func entered(f, res, not string, t0 int64) func([]history.Rec) bool {
	return func(recs []history.Rec) bool {
		for _, rec := range recs {
			if rec.Type == history.Enter && rec.F == f && rec.Res == res && rec.Proc != not && rec.T > t0 {
				return true
			}
		}
		return false
	}
}

// noticed reports whether p recorded the end of a section (exit or loss) after t0.
func noticed(p string, t0 int64) func([]history.Rec) bool {
	return func(recs []history.Rec) bool {
		for _, rec := range recs {
			if rec.Proc == p && rec.T > t0 && (rec.Type == history.Lost || rec.Type == history.Exit) {
				return true
			}
		}
		return false
	}
}

// progress waits until both the lock and the leadership change hands after now.
func (r *run) progress(d time.Duration) {
	t0 := history.Now()
	r.waitFor("lock and leadership taken after the fault", d, func(recs []history.Rec) bool {
		return entered(history.FLock, lockRes, "", t0)(recs) && entered(history.FLead, leadRes, "", t0)(recs)
	})
}

// Faults, aimed at the current holder or leader.

func (r *run) pauseHolder(f, res string) {
	p := r.holder(res, 30*time.Second)
	if p == nil {
		return
	}
	d := r.expiryBound() + r.slack + time.Second
	r.t.Logf("faults: pausing %s (%s %s) for %v", p.name, f, res, d)
	t0 := history.Now()
	if err := r.nem.PauseProcess(p, d, f+" "+res); err != nil {
		r.t.Fatal(err)
	}
	r.waitFor(p.name+" notices its loss after the pause", 2*r.slack+10*time.Second, noticed(p.name, t0))
	r.progress(r.expiryBound() + r.slack + 20*time.Second)
}

// cutHolder cuts the holder off from the backend's host for longer than the
// expiry bound, with its own firewall dropping or rejecting (how: nemesis.Drop,
// nemesis.Reject) the packets: it runs on, so it must see Lost() before
// anyone takes over.
func (r *run) cutHolder(f, res, how string) {
	p := r.holder(res, 30*time.Second)
	if p == nil {
		return
	}
	d := r.expiryBound() + r.slack + time.Second
	r.t.Logf("faults: cutting %s (%s %s) off the backend for %v (%s)", p.name, f, res, d, how)
	t0 := history.Now()
	if err := r.nem.CutProcess(p, p.host, how, d, f+" "+res); err != nil {
		r.t.Fatal(err)
	}
	recs := r.waitFor(p.name+" notices its loss in the cut", 2*r.slack+10*time.Second, noticed(p.name, t0))
	r.logLost(p.name, how+" cut", t0, recs)
	r.progress(r.expiryBound() + r.slack + 20*time.Second)
}

// logLost logs when p first saw Lost() (else ended a section) after t0.
func (r *run) logLost(p, what string, t0 int64, recs []history.Rec) {
	var first *history.Rec
	for i, rec := range recs {
		if rec.Proc == p && rec.T > t0 && rec.Type == history.Lost {
			first = &recs[i]
			break
		}
	}
	if first == nil {
		for i, rec := range recs {
			if noticed(p, t0)([]history.Rec{rec}) {
				first = &recs[i]
				break
			}
		}
	}
	if first != nil {
		r.t.Logf("faults: %s: %s %s %v after the %s began", p, first.Type, first.F, time.Duration(first.T-t0).Round(time.Millisecond), what)
	}
}

// slowHolder delays the holder's link to the backend by a quarter of the
// TTL each way for longer than the expiry bound. The holder may keep its
// liveness or lose it, but must never overlap the next holder.
func (r *run) slowHolder(f, res string) {
	p := r.holder(res, 30*time.Second)
	if p == nil {
		return
	}
	delay, d := r.ttl/4, r.expiryBound()+r.slack+time.Second
	r.t.Logf("faults: slowing %s's link (%s %s) by %v each way for %v", p.name, f, res, delay, d)
	t0 := history.Now()
	r.nem.SlowProcess(p, p.px, delay, d, f+" "+res)
	r.logLost(p.name, "slow link", t0, r.records())
	r.progress(r.expiryBound() + r.slack + 20*time.Second)
}

func (r *run) killHolder(f, res string) {
	p := r.holder(res, 30*time.Second)
	if p == nil {
		return
	}
	r.t.Logf("faults: killing %s (%s %s)", p.name, f, res)
	if err := r.nem.KillProcess(p, f+" "+res); err != nil {
		r.t.Fatal(err)
	}
	t0 := history.Now()
	r.waitFor("takeover of "+res+" after "+p.name+" was killed", r.expiryBound()+r.slack+20*time.Second, entered(f, res, p.name, t0))
	r.startProc()
}

func (r *run) killBackend() {
	if r.holder(lockRes, 30*time.Second) == nil {
		return
	}
	r.t.Logf("faults: killing and restarting %s", r.spec.name)
	if err := r.nem.KillBackend("holder writing"); err != nil {
		r.t.Fatal(err)
	}
	r.progress(r.expiryBound() + r.slack + 30*time.Second)
}

func (r *run) pauseBackend() {
	if r.holder(lockRes, 30*time.Second) == nil {
		return
	}
	d := r.ttl + r.slack + time.Second
	r.t.Logf("faults: pausing %s for %v", r.spec.name, d)
	r.nem.PauseBackend(d, "holder writing")
	r.progress(r.expiryBound() + r.slack + 30*time.Second)
}

// finish quiesces the processes, waits for their views to converge, stops
// them, checks the histories and fails the test on violations.
func (r *run) finish() *checker.Report {
	t := r.t
	t.Helper()
	live := r.live()
	for _, n := range live {
		_ = syscall.Kill(r.proc(n).Pid(), syscall.SIGUSR1)
	}
	r.waitFor("membership views converge on "+strings.Join(live, ","), r.expiryBound()+r.slack+20*time.Second,
		func(recs []history.Rec) bool { return checker.Converged(recs, live) })
	r.hist.Add(history.Rec{Type: history.Process, F: checker.ViewsChecked, Proc: "test"})
	for _, n := range live {
		_ = syscall.Kill(r.proc(n).Pid(), syscall.SIGTERM)
	}
	for _, n := range live {
		p := r.proc(n)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			r.hist.Add(history.Rec{Type: history.Process, F: "crash", Proc: n, Err: "did not exit within 30s of SIGTERM"})
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	r.mu.Lock()
	for n, p := range r.procs {
		out, _ := os.ReadFile(p.stderr)
		switch {
		case bytes.Contains(out, []byte("panic:")) || bytes.Contains(out, []byte("DATA RACE")):
			r.hist.Add(history.Rec{Type: history.Process, F: "panic", Proc: n, Note: tail(out, 3000)})
		case !p.killed && p.err != nil:
			r.hist.Add(history.Rec{Type: history.Process, F: "crash", Proc: n, Err: p.err.Error(), Note: tail(out, 3000)})
		}
	}
	r.mu.Unlock()
	cfg := checker.Config{
		Linearizable: r.linear,
		TTL:          r.ttl,
		ExpiryBound:  r.expiryBound(),
		Slack:        r.slack,
		Live:         live,
		StateLoss:    r.spec.stateLoss,
	}
	rep := checker.Check(r.records(), cfg)
	t.Logf("faults: %s (linearizable=%v) histories in %s\n%s", r.spec.name, r.linear, r.dir, rep.Summary())
	_ = os.WriteFile(filepath.Join(r.dir, "report.txt"), []byte(rep.Summary()+"\n"), 0o644)
	saveResult(t, r.spec.name, rep)
	for _, v := range rep.Violations {
		if why := knownFailure(r.spec.name, v); why != "" {
			t.Logf("faults: KNOWN FAILURE (%s): %s", why, v)
			continue
		}
		t.Errorf("faults: %s", v)
	}
	return rep
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// saveResult appends one JSON line per run to $TOOZ_FAULTS_RESULTS, from
// which scripts/faults.sh makes the table of RELIABILITY.md.
func saveResult(t *testing.T, backend string, rep *checker.Report) {
	path := os.Getenv("TOOZ_FAULTS_RESULTS")
	if path == "" {
		return
	}
	explained, unexplained := 0, 0
	for _, o := range rep.Overlaps {
		if o.Explanation == "UNEXPLAINED" {
			unexplained++
		} else {
			explained++
		}
	}
	var vs, known, unknown []string
	for _, v := range rep.Violations {
		vs = append(vs, v.String())
		if why := knownFailure(backend, v); why != "" {
			if !slices.Contains(known, why) {
				known = append(known, why)
			}
		} else {
			unknown = append(unknown, v.String())
		}
	}
	line, _ := json.Marshal(map[string]any{
		"test": t.Name(), "backend": backend, "ops": rep.Ops, "sections": rep.Sections, "writes": rep.Writes,
		"stale_rejected": rep.StaleRejected, "faults": rep.Faults, "lost": rep.Lost, "events": rep.Events,
		"overlaps_explained": explained, "overlaps_unexplained": unexplained, "violations": vs, "takeovers": rep.Takeovers,
	})
	appendLine(t, path, string(line))
	// The same as a row of RELIABILITY.md's results table.
	status := "pass"
	switch {
	case len(unknown) > 0:
		status = fmt.Sprintf("**FAIL** (%d): %s", len(unknown), unknown[0])
	case len(known) > 0:
		status = fmt.Sprintf("known failure (%d violations): %s", len(vs), strings.Join(known, "; "))
	}
	appendLine(t, path+".md", fmt.Sprintf("| %s | %s | %d | %d | %d | %d | %d | %d | %d/%d | %s |",
		t.Name(), backend, rep.Ops, rep.Sections, rep.Writes, rep.StaleRejected, rep.Faults, rep.Lost,
		explained, unexplained, status))
}

func appendLine(t *testing.T, path, line string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Logf("faults: results: %v", err)
		return
	}
	defer f.Close()
	_, _ = f.WriteString(line + "\n")
}

// knownFailure returns why a violation is a known, reported driver or core
// bug (see RELIABILITY.md), or "" when it must fail the test.
func knownFailure(backend string, v checker.Violation) string {
	if backend == "consul" && v.Check == "fencing" && strings.Contains(v.Msg, "not above") {
		// "consul agent -dev" keeps its state in memory: a restart resets
		// the Raft index the driver's tokens come from (RELIABILITY.md).
		return "Consul -dev loses its Raft index on restart; fencing tokens start over"
	}
	if backend == "zookeeper" && v.Check == "process" && strings.Contains(v.Msg, "DATA RACE") &&
		strings.Contains(v.Msg, "go-zookeeper/zk.(*Conn).sendSetWatches") {
		// Upstream: Conn.lastZxid is written by recvLoop and read by
		// sendSetWatches on a reconnect without synchronization
		// (go-zookeeper/zk PR #35, open; samuel/go-zookeeper#260).
		return "race inside github.com/go-zookeeper/zk v1.0.4 on reconnect (upstream, not tooz)"
	}
	return ""
}
