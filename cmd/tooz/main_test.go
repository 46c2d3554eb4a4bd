// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

// These tests build the tooz binary once and run it as a user would: as
// separate processes, against the embedded file:// default and a real etcd
// server. They synchronize on output lines and files, each with a deadline.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/testserver"
)

// toozBin is the binary under test, built by TestMain.
var toozBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tooz-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	toozBin = filepath.Join(dir, "tooz")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	args := []string{"build", "-o", toozBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command(goBin, append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building tooz: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Deadlines of the waits below: generous, since two cores are shared by
// several test runs.
const (
	shortWait = 15 * time.Second
	longWait  = 40 * time.Second
)

// testTimeout is the liveness timeout of the server backends in these tests.
const testTimeout = 2 * time.Second

func unique(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// output collects what a process writes and lets a test wait for a line.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until a line matches re and returns its submatches.
func (o *output) waitFor(t *testing.T, what string, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	var m []string
	o.waitText(t, fmt.Sprintf("a line matching %q on %s", re, what), func(text string) bool {
		for _, line := range strings.Split(text, "\n") {
			if m = re.FindStringSubmatch(line); m != nil {
				return true
			}
		}
		return false
	}, timeout)
	return m
}

// waitText waits until ok holds for everything written so far.
func (o *output) waitText(t *testing.T, what string, ok func(string) bool, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		text, changed := o.buf.String(), o.changed
		o.mu.Unlock()
		if ok(text) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no %s within %v; got:\n%s", what, timeout, text)
		}
	}
}

// proc is a running tooz process.
type proc struct {
	t              *testing.T
	name           string
	cmd            *exec.Cmd
	stdout, stderr *output
	done           chan struct{}
}

// env is the environment of a tooz process: the test's, with TOOZ_URL set
// to url (unset when url is ""), and a private cache directory.
type env struct {
	url   string
	cache string
}

func (e env) list() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TOOZ_URL=") || strings.HasPrefix(kv, "GORACE=") || strings.HasPrefix(kv, "XDG_CACHE_HOME=") || strings.HasPrefix(kv, "XDG_RUNTIME_DIR=") {
			continue
		}
		out = append(out, kv)
	}
	if e.url != "" {
		out = append(out, "TOOZ_URL="+e.url)
	}
	if raceEnabled {
		// A race-enabled binary sleeps 1s before exiting by default; a
		// race it finds still makes it exit with status 66.
		out = append(out, "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	}
	return append(out, "XDG_CACHE_HOME="+e.cache)
}

// start starts tooz with args; the process is killed when the test ends.
func (e env) start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: "tooz " + strings.Join(args, " "), stdout: newOutput(), stderr: newOutput(), done: make(chan struct{})}
	p.cmd = exec.Command(toozBin, args...)
	p.cmd.Env = e.list()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.WaitDelay = 5 * time.Second // a command's leftover child may hold the pipes
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%s did not exit within %v\nstdout:\n%s\nstderr:\n%s", p.name, timeout, p.stdout, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// expectExit waits for the process and checks its exit status.
func (p *proc) expectExit(want int, timeout time.Duration) {
	p.t.Helper()
	if got := p.wait(timeout); got != want {
		p.t.Fatalf("%s: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", p.name, got, want, p.stdout, p.stderr)
	}
}

func (p *proc) signal(s syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// run runs tooz to completion and returns its output and exit status.
func (e env) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := e.start(t, args...)
	code = p.wait(longWait)
	return p.stdout.String(), p.stderr.String(), code
}

// mustRun runs tooz and fails the test unless it exits with want.
func (e env) mustRun(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, code := e.run(t, args...)
	if code != want {
		t.Fatalf("tooz %s: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

// waitFile waits until the file at path satisfies ok.
func waitFile(t *testing.T, path string, ok func(string) bool, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if ok(string(b)) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: condition not met within %v; content:\n%s", path, timeout, b)
		}
		time.Sleep(20 * time.Millisecond) // polling a file: the deadline bounds it
	}
}

func hasLine(want string) func(string) bool {
	return func(s string) bool { return slices.Contains(strings.Split(s, "\n"), want) }
}

func countLines(n int) func(string) bool {
	return func(s string) bool { return strings.Count(s, "\n") >= n }
}

// fileEnv isolates a test on its own file:// directory.
func fileEnv(t *testing.T) env {
	return env{url: "file://" + t.TempDir() + "?timeout=" + testTimeout.String(), cache: t.TempDir()}
}

// backendEnv is a backend the behaviour tests run on: the file driver (the
// embedded default), or a real server that the loss tests can freeze.
type backendEnv struct {
	name   string
	newEnv func(t *testing.T) env
	server *testserver.Server
}

func startEtcd(t *testing.T) backendEnv {
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	return backendEnv{name: "etcd", server: s, newEnv: func(t *testing.T) env {
		return env{url: fmt.Sprintf("etcd://%s?namespace=%s&timeout=%v", s.Addr, unique("ns"), testTimeout), cache: t.TempDir()}
	}}
}

// sh returns the arguments that run script with sh.
func sh(script string) []string { return []string{"sh", "-c", script} }

func args(a ...any) []string {
	var out []string
	for _, x := range a {
		switch v := x.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("args: %T", x))
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Usage, URLs, help, exit statuses: no backend state involved.

func TestUsageErrors(t *testing.T) {
	e := env{cache: t.TempDir()}
	closed := closedPort(t)
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, exitUsage, "Usage:"},
		{"unknown command", args("frobnicate"), exitUsage, `tooz: unknown command "frobnicate" (see 'tooz --help')`},
		{"unknown option", args("lock", "x", "--bogus", "--", "true"), exitUsage, "tooz lock: unknown option --bogus (see 'tooz lock --help')"},
		{"unknown global option", args("--bogus", "status"), exitUsage, "tooz: unknown option --bogus"},
		{"bad option value", args("lock", "x", "--wait", "soon", "--", "true"), exitUsage, `invalid value "soon" for option --wait`},
		{"option without value", args("status", "--url"), exitUsage, "option --url needs a value"},
		{"lock without --", args("lock", "x", "true"), exitUsage, `put "--" between the lock name and the command`},
		{"lock without command", args("lock", "x", "--"), exitUsage, "missing the command"},
		{"lock without name", args("lock"), exitUsage, "missing the lock NAME"},
		{"wait and no-wait", args("lock", "x", "--wait", "1s", "--no-wait", "--", "true"), exitUsage, "--no-wait and --wait exclude each other"},
		{"elect wait and standby", args("elect", "g", "--wait", "1s", "--standby", "--", "true"), exitUsage, "--wait and --standby exclude each other"},
		{"elect wait and no-wait", args("elect", "g", "--wait", "1s", "--no-wait", "--", "true"), exitUsage, "--no-wait and --wait exclude each other"},
		{"elect standby and no-wait", args("elect", "g", "--standby", "--no-wait", "--", "true"), exitUsage, "--no-wait and --standby exclude each other"},
		{"elect negative hold-off", args("elect", "g", "--standby", "--hold-off", "-1s", "--", "true"), exitUsage, "--hold-off -1s: must not be negative"},
		{"elect hold-off too long", args("elect", "g", "--standby", "--hold-off", "25h", "--", "true"), exitUsage, "--hold-off 25h0m0s: must be at most 24h0m0s"},
		{"elect negative priority", args("elect", "g", "--priority", "-1", "--", "true"), exitUsage, "--priority -1: must be between 0 and"},
		{"elect preempt without priority", args("elect", "g", "--preempt", "--", "true"), exitUsage, "--preempt needs --priority"},
		{"elect both hold-off names", args("elect", "g", "--standby", "--hold-off", "1s", "--restart-delay", "1s", "--", "true"), exitUsage, "--hold-off and --restart-delay are one option"},
		{"conflict exit code out of range", args("lock", "x", "--conflict-exit-code", "256", "--", "true"), exitUsage, "--conflict-exit-code 256: want an exit status from 1 to 255"},
		{"lost exit code of tooz's own", args("semaphore", "s", "2", "--lost-exit-code", "3", "--", "true"), exitUsage, "--lost-exit-code 3: 1 to 3 are tooz's own failure statuses"},
		{"conflict and lost exit codes equal", args("elect", "g", "--conflict-exit-code", "90", "--lost-exit-code", "90", "--", "true"), exitUsage, "--conflict-exit-code and --lost-exit-code are both 90"},
		{"members without group", args("members"), exitUsage, "missing the GROUP"},
		{"extra argument", args("leader", "g", "h"), exitUsage, `unexpected argument "h"`},
		{"bad name", args("leader", "\xff"), exitUsage, "bad group name"},
		{"capabilities not JSON", args("join", "g", "--capabilities", "{zone: a}"), exitUsage, "--capabilities is not valid JSON"},
		{"unknown scheme", args("--url", "bogus://h:1", "status"), exitUsage, `tooz: unknown backend "bogus" in URL (from --url); this tooz knows: `},
		{"no scheme", args("--url", "/var/lib/tooz", "status"), exitUsage, "tooz: invalid URL: no scheme (want e.g. etcd://host:2379)"},
		{"unparsable URL", args("--url", "127.0.0.1:2379", "status"), exitUsage, "tooz: invalid URL: "},
		{"unknown URL option", args("--url", "file:///tmp/x?colour=blue", "status"), exitUsage, `tooz: invalid URL: unknown option "colour" for scheme file`},
		{"bad URL option value", args("--url", "etcd://127.0.0.1:1?dial_timeout=soon", "status"), exitUsage, "dial_timeout"},
		{"bad timeout", args("--url", "file:///tmp/x?timeout=-1s", "status"), exitUsage, "timeout"},
		{"command not found", args("--url", "memory://", "lock", "x", "--", "no-such-command-tooz"), exitNotFound, "tooz: command not found: no-such-command-tooz"},
		{"command not executable", args("--url", "memory://", "lock", "x", "--", "/dev/null"), exitCannotRun, "tooz: cannot run /dev/null"},
		{"unreachable", args("--url", "etcd://127.0.0.1:"+closed+"?dial_timeout=500ms", "status"), exitUnreachable, "connection failed"},
		{"unreachable, password masked", args("--url", "etcd://alice:hunter2@127.0.0.1:"+closed+"?dial_timeout=500ms", "groups"), exitUnreachable, "alice:xxxxx@"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := e.run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit status %d, want %d", code, tc.code)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.stderr, stderr)
			}
			if tc.code == exitUsage && stdout != "" {
				t.Errorf("usage error printed on stdout:\n%s", stdout)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("password printed:\n%s", stderr)
			}
		})
	}
}

func TestJSONError(t *testing.T) {
	e := env{cache: t.TempDir()}
	_, stderr, code := e.run(t, "--json", "--url", "bogus://x", "status")
	if code != exitUsage {
		t.Fatalf("exit status %d, want %d", code, exitUsage)
	}
	var v struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(stderr), &v); err != nil {
		t.Fatalf("stderr is not one JSON object: %v\n%s", err, stderr)
	}
	if v.ExitCode != exitUsage || !strings.Contains(v.Error, "bogus") {
		t.Fatalf("got %+v", v)
	}
}

func TestHelp(t *testing.T) {
	e := env{cache: t.TempDir()}
	top, _ := e.mustRun(t, 0, "--help")
	for _, c := range commands {
		if !strings.Contains(top, "\n  "+c.name) {
			t.Errorf("tooz --help does not list %s", c.name)
		}
		for _, form := range [][]string{{c.name, "--help"}, {"help", c.name}, {c.name, "-h"}} {
			stdout, _ := e.mustRun(t, 0, form...)
			for _, want := range []string{"Usage: tooz " + c.name, "Example:\n  ", "--url URL", "--json"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("tooz %s: help lacks %q:\n%s", strings.Join(form, " "), want, stdout)
				}
			}
		}
	}
	for _, want := range []string{"Exit status:", "  3    backend unreachable", "  5    lock or leadership lost", "128+S"} {
		if !strings.Contains(top, want) {
			t.Errorf("tooz --help lacks %q", want)
		}
	}
}

// closedPort returns a local port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return port
}

// ---------------------------------------------------------------------------
// The embedded default backend.

func TestDefaultBackend(t *testing.T) {
	e := env{cache: t.TempDir()} // no TOOZ_URL
	dir := filepath.Join(e.cache, "tooz", "default")
	stdout, _ := e.mustRun(t, 0, "status")
	for _, want := range []string{"url               file://" + dir + " (embedded default)", "driver            file", "round trip "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("default directory %s not created: %v", dir, err)
	}
	stdout, _ = e.mustRun(t, 0, "status", "--json")
	var st struct {
		URL       string   `json:"url"`
		Source    string   `json:"url_source"`
		Driver    string   `json:"driver"`
		RoundTrip float64  `json:"round_trip_seconds"`
		Chars     []string `json:"characteristics"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	if st.URL != "file://"+dir || st.Source != "embedded default" || st.Driver != "file" || st.RoundTrip <= 0 ||
		!slices.Contains(st.Chars, "distributed_across_processes") {
		t.Fatalf("status --json: %+v", st)
	}
	// The main job works there: two locks in a row, increasing tokens.
	out1, _ := e.mustRun(t, 0, args("lock", "demo", "--", sh(`echo "$TOOZ_LOCK $TOOZ_FENCING_TOKEN"`))...)
	out2, _ := e.mustRun(t, 0, args("lock", "demo", "--", sh(`echo "$TOOZ_LOCK $TOOZ_FENCING_TOKEN"`))...)
	var t1, t2 uint64
	if _, err := fmt.Sscanf(out1, "demo %d", &t1); err != nil {
		t.Fatalf("first run printed %q", out1)
	}
	if _, err := fmt.Sscanf(out2, "demo %d", &t2); err != nil || t2 <= t1 {
		t.Fatalf("fencing tokens %d then %q", t1, out2)
	}
}

// ---------------------------------------------------------------------------
// Behaviour on each backend.

func TestFile(t *testing.T) {
	runBackend(t, backendEnv{name: "file", newEnv: fileEnv})
}

func TestEtcd(t *testing.T) {
	b := startEtcd(t)
	runBackend(t, b)
	t.Run("LockLost", func(t *testing.T) { testLockLost(t, b) })
	t.Run("LeadershipLost", func(t *testing.T) { testLeadershipLost(t, b) })
}

func TestRedis(t *testing.T) {
	s := testserver.StartRedis(t)
	b := backendEnv{name: "redis", server: s, newEnv: func(t *testing.T) env {
		return env{url: fmt.Sprintf("redis://%s?namespace=%s&timeout=%v", s.Addr, unique("ns"), testTimeout), cache: t.TempDir()}
	}}
	runBackend(t, b)
	t.Run("LockLost", func(t *testing.T) { testLockLost(t, b) })
	t.Run("LeadershipLost", func(t *testing.T) { testLeadershipLost(t, b) })
}

func runBackend(t *testing.T, b backendEnv) {
	t.Run("LockExclusion", func(t *testing.T) { testLockExclusion(t, b.newEnv(t)) })
	t.Run("LockNoWait", func(t *testing.T) { testLockNoWait(t, b.newEnv(t)) })
	t.Run("LockExitStatus", func(t *testing.T) { testLockExitStatus(t, b.newEnv(t)) })
	t.Run("LockInterrupt", func(t *testing.T) { testLockInterrupt(t, b.newEnv(t)) })
	t.Run("ElectHandover", func(t *testing.T) { testElectHandover(t, b.newEnv(t)) })
	t.Run("ElectStandby", func(t *testing.T) { testElectStandby(t, b.newEnv(t)) })
	t.Run("ElectNoWait", func(t *testing.T) { testElectNoWait(t, b.newEnv(t)) })
	t.Run("ElectPreempt", func(t *testing.T) { testElectPreempt(t, b.newEnv(t)) })
	t.Run("Watch", func(t *testing.T) { testWatch(t, b.newEnv(t), false) })
	t.Run("WatchJSON", func(t *testing.T) { testWatch(t, b.newEnv(t), true) })
	t.Run("LeaderWatch", func(t *testing.T) { testLeaderWatch(t, b.newEnv(t)) })
	t.Run("Members", func(t *testing.T) { testMembers(t, b.newEnv(t)) })
	t.Run("KV", func(t *testing.T) { testKV(t, b.newEnv(t)) })
	t.Run("JoinRestartSameMember", func(t *testing.T) { testJoinRestart(t, b.newEnv(t)) })
	t.Run("Status", func(t *testing.T) {
		stdout, _ := b.newEnv(t).mustRun(t, 0, "status")
		if !strings.Contains(stdout, "driver            "+b.name+"\n") || !strings.Contains(stdout, "($TOOZ_URL)") {
			t.Fatalf("status:\n%s", stdout)
		}
	})
}

// testLockExclusion runs three `tooz lock` processes on one name whose
// commands log their start and end: the runs must not interleave, and the
// fencing tokens must grow in the order the lock was taken.
func testLockExclusion(t *testing.T, e env) {
	dir := t.TempDir()
	logf, gate := filepath.Join(dir, "log"), filepath.Join(dir, "gate")
	script := fmt.Sprintf(`echo "start $TOOZ_FENCING_TOKEN $(date +%%s%%N)" >> %[1]s
while [ ! -e %[2]s ]; do sleep 0.02; done
sleep 0.1
echo "end $TOOZ_FENCING_TOKEN $(date +%%s%%N)" >> %[1]s`, logf, gate)
	var procs []*proc
	for i := range 3 {
		procs = append(procs, e.start(t, args("lock", "shared", "--verbose", "--member", fmt.Sprintf("p%d", i), "--", sh(script))...))
	}
	// Only let the first holder finish once the two others wait: the
	// processes really contend.
	waiting := regexp.MustCompile(`^tooz: waiting for lock "shared", held by "p\d"$`)
	n := 0
	for _, p := range procs {
		if waitingOrAcquired(t, p, waiting) {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d processes waited, want 2", n)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		p.expectExit(0, longWait)
	}
	b, _ := os.ReadFile(logf)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 6 {
		t.Fatalf("log has %d lines, want 6:\n%s", len(lines), b)
	}
	var last uint64
	for i := 0; i < len(lines); i += 2 {
		var tokS, tokE uint64
		var tS, tE int64
		if _, err := fmt.Sscanf(lines[i], "start %d %d", &tokS, &tS); err != nil {
			t.Fatalf("line %d: %q, want a start (runs interleaved?):\n%s", i, lines[i], b)
		}
		if _, err := fmt.Sscanf(lines[i+1], "end %d %d", &tokE, &tE); err != nil || tokE != tokS {
			t.Fatalf("line %d: %q, want the end of token %d (runs interleaved?):\n%s", i+1, lines[i+1], tokS, b)
		}
		if tokS <= last {
			t.Fatalf("fencing token %d after %d:\n%s", tokS, last, b)
		}
		if tE < tS {
			t.Fatalf("run ends before it starts:\n%s", b)
		}
		last = tokS
	}
}

// waitingOrAcquired waits until p says it waits for the lock (true) or
// acquired it (false).
func waitingOrAcquired(t *testing.T, p *proc, waiting *regexp.Regexp) bool {
	t.Helper()
	re := regexp.MustCompile(waiting.String() + `|^tooz: lock "shared" acquired`)
	m := p.stderr.waitFor(t, p.name+" stderr", re, longWait)
	return waiting.MatchString(m[0])
}

// holdLock starts a `tooz lock` whose command runs until the file stop
// exists, and waits until it holds the lock.
func holdLock(t *testing.T, e env, name, member string, extra ...string) (p *proc, started, stop string) {
	t.Helper()
	dir := t.TempDir()
	started, stop = filepath.Join(dir, "started"), filepath.Join(dir, "stop")
	script := fmt.Sprintf(`echo "$TOOZ_FENCING_TOKEN" > %s; while [ ! -e %s ]; do sleep 0.02; done`, started, stop)
	p = e.start(t, args("lock", name, "--member", member, extra, "--", sh(script))...)
	waitFile(t, started, countLines(1), longWait)
	return p, started, stop
}

func testLockNoWait(t *testing.T, e env) {
	holder, _, stop := holdLock(t, e, "busy", "holder")
	_, stderr := e.mustRun(t, exitNotAcquired, "lock", "busy", "--no-wait", "--", "true")
	if !strings.Contains(stderr, `tooz: lock "busy" is held by "holder"; not acquired (--no-wait)`) {
		t.Errorf("--no-wait: stderr:\n%s", stderr)
	}
	_, stderr = e.mustRun(t, exitNotAcquired, "lock", "busy", "--wait", "300ms", "--", "true")
	if !strings.Contains(stderr, `tooz: lock "busy" not acquired within --wait 300ms (held by "holder")`) {
		t.Errorf("--wait: stderr:\n%s", stderr)
	}
	_, stderr = e.mustRun(t, exitNotAcquired, "--json", "lock", "busy", "--no-wait", "--", "true")
	var v map[string]any
	if err := json.Unmarshal([]byte(stderr), &v); err != nil || v["exit_code"] != float64(exitNotAcquired) {
		t.Errorf("--json --no-wait: %v\n%s", err, stderr)
	}
	// --conflict-exit-code moves "not acquired" away from the command's 4;
	// the command's own 4 still passes through unchanged.
	e.mustRun(t, 90, "lock", "busy", "--no-wait", "--conflict-exit-code", "90", "--", "true")
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	holder.expectExit(0, longWait)
	e.mustRun(t, 0, "lock", "busy", "--no-wait", "--", "true")
	e.mustRun(t, 4, args("lock", "busy", "--no-wait", "--conflict-exit-code", "90", "--lost-exit-code", "91", "--", sh("exit 4"))...)
}

func testLockExitStatus(t *testing.T, e env) {
	e.mustRun(t, 7, args("lock", "codes", "--", sh("exit 7"))...)
	e.mustRun(t, 128+int(syscall.SIGTERM), args("lock", "codes", "--", sh("kill -TERM $$"))...)
	e.mustRun(t, 128+int(syscall.SIGKILL), args("lock", "codes", "--", sh("kill -KILL $$"))...)
	// The lock was released each time.
	stdout, _ := e.mustRun(t, 0, args("lock", "codes", "--no-wait", "--", sh(`echo "token=$TOOZ_FENCING_TOKEN lock=$TOOZ_LOCK"`))...)
	if !regexp.MustCompile(`^token=\d+ lock=codes\n$`).MatchString(stdout) {
		t.Fatalf("child environment: %q", stdout)
	}
	// With --json, tooz reports on stderr in JSON lines only.
	_, stderr := e.mustRun(t, 5, args("--json", "lock", "codes", "--", sh("exit 5"))...)
	var events []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var v struct {
			Event    string
			Lock     string
			Token    uint64 `json:"fencing_token"`
			ExitCode *int   `json:"exit_code"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.Lock != "codes" {
			t.Fatalf("--json: stderr line %q: %v", line, err)
		}
		if v.Event == "acquired" && v.Token == 0 || v.Event == "released" && (v.ExitCode == nil || *v.ExitCode != 5) {
			t.Errorf("--json: %q", line)
		}
		events = append(events, v.Event)
	}
	if !slices.Equal(events, []string{"acquired", "released"}) {
		t.Errorf("--json events %v, want acquired, released", events)
	}
}

// testLockInterrupt sends SIGTERM to tooz: the command gets it, and the lock
// is free once both have exited.
func testLockInterrupt(t *testing.T, e env) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	script := fmt.Sprintf(`trap 'echo "got TERM" >> %[1]s; exit 42' TERM; echo started >> %[1]s; while :; do sleep 0.02; done`, logf)
	p := e.start(t, args("lock", "intr", "--", sh(script))...)
	waitFile(t, logf, hasLine("started"), longWait)
	p.signal(syscall.SIGTERM)
	p.expectExit(42, longWait)
	waitFile(t, logf, hasLine("got TERM"), shortWait)
	e.mustRun(t, 0, "lock", "intr", "--no-wait", "--", "true")

	// A command that ignores SIGTERM is killed after --grace.
	script = fmt.Sprintf(`trap '' INT TERM; echo started >> %s; while :; do sleep 0.02; done`, filepath.Join(dir, "log2"))
	p = e.start(t, args("lock", "intr", "--grace", "200ms", "--", sh(script))...)
	waitFile(t, filepath.Join(dir, "log2"), hasLine("started"), longWait)
	p.signal(syscall.SIGINT)
	p.expectExit(128+int(syscall.SIGKILL), longWait)
	e.mustRun(t, 0, "lock", "intr", "--no-wait", "--", "true")

	// Interrupted while waiting: 128+signal, and the command never ran.
	holder, _, stop := holdLock(t, e, "intr", "holder")
	never := filepath.Join(dir, "never")
	w := e.start(t, args("lock", "intr", "--verbose", "--", sh("touch "+never))...)
	w.stderr.waitFor(t, "stderr", regexp.MustCompile(`^tooz: waiting for lock "intr", held by "holder"$`), longWait)
	w.signal(syscall.SIGINT)
	w.expectExit(128+int(syscall.SIGINT), longWait)
	if !strings.Contains(w.stderr.String(), `tooz: interrupted by SIGINT while waiting for lock "intr"`) {
		t.Errorf("stderr:\n%s", w.stderr)
	}
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	holder.expectExit(0, longWait)
	if _, err := os.Stat(never); err == nil {
		t.Fatal("the interrupted waiter ran its command")
	}
}

// electCommandScript logs "leader MEMBER TOKEN PID" and runs until killed.
func electScript(logf, member string) []string {
	return sh(fmt.Sprintf(`echo "leader %s $TOOZ_FENCING_TOKEN $$ $TOOZ_GROUP" >> %s; while :; do sleep 0.02; done`, member, logf))
}

// testElectHandover kills the leading `tooz elect` with SIGKILL: the other
// candidate takes over within the liveness timeout, and the dead leader's
// command is gone too.
func testElectHandover(t *testing.T, e env) {
	logf := filepath.Join(t.TempDir(), "log")
	a := e.start(t, args("elect", "g", "--member", "a", "--", electScript(logf, "a"))...)
	waitFile(t, logf, countLines(1), longWait)
	b := e.start(t, args("elect", "g", "--member", "b", "--", electScript(logf, "b"))...)
	stdout, _ := e.mustRun(t, 0, "leader", "g")
	if stdout != "a\n" {
		t.Fatalf("leader: %q, want a", stdout)
	}
	// Both candidates are members (--join is the default).
	waitMembers(t, e, "g", "a", "b")

	killed := time.Now()
	a.signal(syscall.SIGKILL)
	a.wait(shortWait)
	log := waitFile(t, logf, countLines(2), longWait)
	took := time.Since(killed)
	lines := strings.Split(strings.TrimSpace(log), "\n")
	var ta, tb uint64
	var pa, pb int
	var ga, gb string
	if _, err := fmt.Sscanf(lines[0], "leader a %d %d %s", &ta, &pa, &ga); err != nil {
		t.Fatalf("log: %q", log)
	}
	if _, err := fmt.Sscanf(lines[1], "leader b %d %d %s", &tb, &pb, &gb); err != nil || tb <= ta || ga != "g" || gb != "g" {
		t.Fatalf("log: %q", log)
	}
	t.Logf("hand-over after SIGKILL took %v", took.Round(time.Millisecond))
	if took > 3*testTimeout {
		t.Errorf("hand-over took %v, liveness timeout %v", took, testTimeout)
	}
	stdout, _ = e.mustRun(t, 0, "leader", "g")
	if stdout != "b\n" {
		t.Fatalf("leader after hand-over: %q, want b", stdout)
	}
	// The killed tooz's command did not outlive it (parent-death signal).
	waitGone(t, pa)
	b.signal(syscall.SIGTERM)
	b.expectExit(128+int(syscall.SIGTERM), longWait)
	waitGone(t, pb)
}

// waitMembers waits until `tooz members` lists exactly want.
func waitMembers(t *testing.T, e env, group string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(longWait)
	for {
		stdout, _, _ := e.run(t, "members", group, "--json")
		var rows []struct{ Member string }
		_ = json.Unmarshal([]byte(stdout), &rows)
		var got []string
		for _, r := range rows {
			got = append(got, r.Member)
		}
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members of %s: %v, want %v", group, got, want)
		}
	}
}

// waitGone waits until process pid no longer exists.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(shortWait)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond) // polling a process: the deadline bounds it
	}
}

// testElectNoWait: --no-wait gives up at once (exit 4) while another
// member leads, and is elected at once when nobody does.
func testElectNoWait(t *testing.T, e env) {
	logf := filepath.Join(t.TempDir(), "log")
	a := e.start(t, args("elect", "nw", "--member", "a", "--", electScript(logf, "a"))...)
	waitFile(t, logf, countLines(1), longWait)
	_, stderr := e.mustRun(t, exitNotAcquired, "elect", "nw", "--member", "b", "--no-wait", "--", "true")
	if !strings.Contains(stderr, `tooz: group "nw" is led by "a"; not elected (--no-wait)`) {
		t.Errorf("--no-wait: stderr:\n%s", stderr)
	}
	a.signal(syscall.SIGTERM)
	a.expectExit(128+int(syscall.SIGTERM), longWait)
	e.mustRun(t, 3, args("elect", "nw", "--member", "b", "--no-wait", "--", sh("exit 3"))...)
}

// testElectPreempt: a candidate with a higher --priority and --preempt
// takes over from the leader, whose command is stopped and which exits 5.
func testElectPreempt(t *testing.T, e env) {
	logf := filepath.Join(t.TempDir(), "log")
	low := e.start(t, args("elect", "pr", "--member", "low", "--priority", "1", "--", electScript(logf, "low"))...)
	waitFile(t, logf, countLines(1), longWait)
	high := e.start(t, args("elect", "pr", "--member", "high", "--priority", "2", "--preempt", "--", electScript(logf, "high"))...)
	low.expectExit(exitLost, longWait)
	log := waitFile(t, logf, countLines(2), longWait)
	if lines := strings.Split(strings.TrimSpace(log), "\n"); !strings.HasPrefix(lines[1], "leader high ") {
		t.Fatalf("log:\n%s", log)
	}
	stdout, _ := e.mustRun(t, 0, "leader", "pr")
	if stdout != "high\n" {
		t.Fatalf("leader: %q, want high", stdout)
	}
	high.signal(syscall.SIGTERM)
	high.expectExit(128+int(syscall.SIGTERM), longWait)
}

// testElectStandby: with --standby, tooz runs the command again each time
// it is elected, and exits 0 when interrupted.
func testElectStandby(t *testing.T, e env) {
	logf := filepath.Join(t.TempDir(), "log")
	p := e.start(t, args("elect", "s", "--standby", "--hold-off", "50ms", "--", sh(`echo "run $TOOZ_FENCING_TOKEN" >> `+logf+"; exit 3"))...)
	log := waitFile(t, logf, countLines(3), longWait)
	p.signal(syscall.SIGTERM)
	p.expectExit(0, longWait)
	var last uint64
	for _, l := range strings.Split(strings.TrimSpace(log), "\n")[:3] {
		var tok uint64
		if _, err := fmt.Sscanf(l, "run %d", &tok); err != nil || tok <= last {
			t.Fatalf("log:\n%s", log)
		}
		last = tok
	}
	// Without --standby, the command's status passes through.
	e.mustRun(t, 3, args("elect", "s", "--", sh("exit 3"))...)
	_, stderr, _ := e.run(t, "leader", "s")
	if !strings.Contains(stderr, `tooz: group "s" has no leader`) {
		t.Fatalf("leader after resigning: %s", stderr)
	}
}

// testLeaderWatch: `tooz leader --watch` prints the leader, then every
// change, as lines or JSON objects.
func testLeaderWatch(t *testing.T, e env) {
	group := "lw"
	text := e.start(t, "leader", group, "--watch")
	js := e.start(t, "--json", "leader", group, "--watch")
	lines := func(want ...string) func(string) bool {
		return func(s string) bool { return s == strings.Join(want, "\n")+"\n" }
	}
	text.stdout.waitText(t, "empty line (no leader yet)", lines(""), longWait)
	js.stdout.waitFor(t, "leader --watch --json stdout", regexp.MustCompile(`^\{.*"group":"lw".*"leader":null`), longWait)
	logf := filepath.Join(t.TempDir(), "log")
	l := e.start(t, args("elect", group, "--member", "boss", "--join=false", "--", electScript(logf, "boss"))...)
	text.stdout.waitText(t, "boss after the empty line", lines("", "boss"), longWait)
	js.stdout.waitFor(t, "leader --watch --json stdout", regexp.MustCompile(`^\{.*"leader":"boss"`), longWait)
	l.signal(syscall.SIGTERM)
	l.expectExit(128+int(syscall.SIGTERM), longWait)
	text.stdout.waitText(t, "an empty line after boss", lines("", "boss", ""), longWait)
	js.stdout.waitText(t, "three JSON lines, the last with no leader", func(s string) bool {
		ls := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		return len(ls) == 3 && strings.Contains(ls[2], `"leader":null`)
	}, longWait)
	text.signal(syscall.SIGINT)
	text.expectExit(0, longWait)
	js.signal(syscall.SIGINT)
	js.expectExit(0, longWait)
}

// testWatch: `tooz watch` prints the joins, leaves and leader changes made
// by other processes.
func testWatch(t *testing.T, e env, jsonOut bool) {
	group := "w"
	var extra []string
	if jsonOut {
		extra = []string{"--json"}
	}
	w := e.start(t, args("watch", group, extra)...)
	var ev func(event, member string) *regexp.Regexp
	if jsonOut {
		w.stdout.waitFor(t, "watch stdout", regexp.MustCompile(`^\{.*"event":"watching".*"exists":false`), longWait)
		ev = func(event, member string) *regexp.Regexp {
			return regexp.MustCompile(`^\{.*"event":"` + event + `".*"member":"` + member + `"`)
		}
	} else {
		w.stderr.waitFor(t, "watch stderr", regexp.MustCompile(`^tooz: watching group "w" \(not created yet; no leader\); Ctrl-C to stop$`), longWait)
		ev = func(event, member string) *regexp.Regexp {
			return regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  ` + event + ` +` + member + `$`)
		}
	}
	j := e.start(t, "join", group, "--member", "joiner", "--capabilities", `{"zone":"a"}`)
	j.stderr.waitFor(t, "join stderr", regexp.MustCompile(`^tooz: joined group "w" as "joiner"; Ctrl-C to leave$`), longWait)
	w.stdout.waitFor(t, "watch stdout", ev("joined", "joiner"), longWait)

	logf := filepath.Join(t.TempDir(), "log")
	l := e.start(t, args("elect", group, "--member", "boss", "--join=false", "--", electScript(logf, "boss"))...)
	w.stdout.waitFor(t, "watch stdout", ev("leader", "boss"), longWait)

	j.signal(syscall.SIGINT)
	j.expectExit(0, longWait)
	w.stdout.waitFor(t, "watch stdout", ev("left", "joiner"), longWait)

	l.signal(syscall.SIGTERM)
	l.expectExit(128+int(syscall.SIGTERM), longWait)
	noLeader := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  no-leader$`)
	if jsonOut {
		noLeader = regexp.MustCompile(`^\{.*"event":"no_leader"`)
	}
	w.stdout.waitFor(t, "watch stdout", noLeader, longWait)

	w.signal(syscall.SIGINT)
	w.expectExit(0, longWait)
	if jsonOut {
		for _, line := range strings.Split(strings.TrimSpace(w.stdout.String()), "\n") {
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil || v["group"] != group {
				t.Errorf("not a JSON event of group w: %q", line)
			}
		}
		if s := w.stderr.String(); s != "" {
			t.Errorf("--json wrote non-JSON on stderr:\n%s", s)
		}
	}
}

func testMembers(t *testing.T, e env) {
	_, stderr := e.mustRun(t, exitFailure, "members", "nope")
	if !strings.Contains(stderr, `tooz: group "nope" does not exist`) {
		t.Errorf("members of a missing group: %s", stderr)
	}
	_, stderr = e.mustRun(t, exitFailure, "leader", "nope")
	if !strings.Contains(stderr, `tooz: group "nope" has no leader`) {
		t.Errorf("leader of a group with none: %s", stderr)
	}
	j1 := e.start(t, "join", "team", "--member", "m1", "--capabilities", `{ "zone": "a",  "slots": 4 }`)
	j1.stderr.waitFor(t, "join stderr", regexp.MustCompile(`^tooz: joined group`), longWait)
	j2 := e.start(t, "join", "team", "--member", "member two")
	j2.stderr.waitFor(t, "join stderr", regexp.MustCompile(`^tooz: joined group`), longWait)
	_, stderr = e.mustRun(t, exitFailure, "join", "team", "--member", "m1", "--no-wait")
	if !strings.Contains(stderr, `member "m1" is already in group "team"`) {
		t.Errorf("second join with one member ID: %s", stderr)
	}
	_, stderr = e.mustRun(t, exitFailure, "join", "team", "--member", "m1", "--wait", "200ms")
	if !strings.Contains(stderr, `member "m1" is already in group "team" and stayed for 200ms`) {
		t.Errorf("second join with one member ID, waiting: %s", stderr)
	}

	stdout, _ := e.mustRun(t, 0, "members", "team")
	table := regexp.MustCompile(`^MEMBER +JOINED +UPDATED +CAPABILITIES\n` +
		`m1 +(just now|\d+s ago) +(just now|\d+s ago) +\{"zone":"a","slots":4\}\n` +
		`"member two" +(just now|\d+s ago) +(just now|\d+s ago) +-\n$`)
	if !table.MatchString(stdout) {
		t.Errorf("members table:\n%s", stdout)
	}
	stdout, _ = e.mustRun(t, 0, "members", "team", "--json")
	var rows []struct {
		Member       string
		JoinedAt     time.Time `json:"joined_at"`
		Capabilities map[string]any
	}
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("members --json: %v\n%s", err, stdout)
	}
	if len(rows) != 2 || rows[0].Member != "m1" || rows[0].Capabilities["slots"] != float64(4) || rows[1].Member != "member two" ||
		rows[1].Capabilities != nil || time.Since(rows[0].JoinedAt) > time.Hour {
		t.Errorf("members --json: %+v", rows)
	}

	logf := filepath.Join(t.TempDir(), "log")
	l := e.start(t, args("elect", "team", "--member", "m1-leader", "--join=false", "--", electScript(logf, "m1-leader"))...)
	waitFile(t, logf, countLines(1), longWait)
	stdout, _ = e.mustRun(t, 0, "groups")
	if !regexp.MustCompile(`^GROUP +MEMBERS +LEADER\nteam +2 +m1-leader\n$`).MatchString(stdout) {
		t.Errorf("groups:\n%s", stdout)
	}
	stdout, _ = e.mustRun(t, 0, "groups", "--json")
	if strings.TrimSpace(stdout) != `[{"group":"team","members":2,"leader":"m1-leader"}]` {
		t.Errorf("groups --json: %s", stdout)
	}
	stdout, _ = e.mustRun(t, 0, "leader", "team", "--json")
	if strings.TrimSpace(stdout) != `{"group":"team","leader":"m1-leader"}` {
		t.Errorf("leader --json: %s", stdout)
	}
	for _, p := range []*proc{j1, j2, l} {
		p.signal(syscall.SIGTERM)
	}
	j1.expectExit(0, longWait)
	j2.expectExit(0, longWait)
	l.expectExit(128+int(syscall.SIGTERM), longWait)
	_, stderr = e.mustRun(t, 0, "members", "team")
	if !strings.Contains(stderr, `tooz: group "team" has no members`) {
		t.Errorf("members after leaving: %s", stderr)
	}
}

// testLockLost freezes the server past the liveness timeout while `tooz lock`
// runs its command: tooz must notice, stop the command with SIGTERM and
// exit with the "lost" status.
func testLockLost(t *testing.T, b backendEnv) {
	e := b.newEnv(t)
	logf := filepath.Join(t.TempDir(), "log")
	script := fmt.Sprintf(`trap 'echo "got TERM" >> %[1]s; exit 0' TERM; echo started >> %[1]s; while :; do sleep 0.02; done`, logf)
	p := e.start(t, args("lock", "lost", "--grace", "5s", "--", sh(script))...)
	waitFile(t, logf, hasLine("started"), longWait)
	b.server.Pause()
	defer b.server.Resume()
	waitFile(t, logf, hasLine("got TERM"), longWait)
	b.server.Resume()
	p.expectExit(exitLost, longWait)
	stderr := p.stderr.String()
	for _, want := range []string{
		`tooz: lock "lost" lost while the command ran; stopping it (SIGTERM, then SIGKILL after 5s)`,
		`tooz: lock "lost" was lost while the command ran (another process may hold it now); the command exited with status 0`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// Another process gets the lock once the old session is gone.
	e.mustRun(t, 0, "lock", "lost", "--wait", "20s", "--", "true")
}

// testLeadershipLost does the same to `tooz elect`, whose command ignores
// SIGTERM and so is killed after --grace.
func testLeadershipLost(t *testing.T, b backendEnv) {
	e := b.newEnv(t)
	logf := filepath.Join(t.TempDir(), "log")
	script := fmt.Sprintf(`trap 'echo "got TERM" >> %[1]s' TERM; echo "started $$" >> %[1]s; while :; do sleep 0.02; done`, logf)
	p := e.start(t, args("elect", "lg", "--grace", "300ms", "--", sh(script))...)
	waitFile(t, logf, countLines(1), longWait)
	b.server.Pause()
	defer b.server.Resume()
	waitFile(t, logf, hasLine("got TERM"), longWait)
	b.server.Resume()
	p.expectExit(exitLost, longWait)
	if want := `tooz: leadership of group "lg" was lost while the command ran (another process may lead now); the command did not exit within --grace 300ms and was killed (status 137)`; !strings.Contains(p.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
	}
}

// testJoinRestart kills a `tooz join` with SIGKILL and starts another with
// the same --member at once: it waits for the killed one's membership to
// expire (file://: it sees the process gone at once), then joins.
func testJoinRestart(t *testing.T, e env) {
	j1 := e.start(t, "join", "crew", "--member", "w1", "--capabilities", `"first"`)
	j1.stderr.waitFor(t, "join stderr", regexp.MustCompile(`^tooz: joined group`), longWait)
	j1.signal(syscall.SIGKILL)
	j1.wait(longWait)
	killed := time.Now()
	j2 := e.start(t, "join", "crew", "--member", "w1", "--capabilities", `"second"`)
	j2.stderr.waitFor(t, "join stderr", regexp.MustCompile(`^tooz: joined group`), longWait)
	t.Logf("the restarted tooz join joined %v after the kill (timeout %v)", time.Since(killed).Round(time.Millisecond), testTimeout)
	stdout, _ := e.mustRun(t, 0, "members", "crew")
	if !regexp.MustCompile(`(?m)^w1 .*"second"$`).MatchString(stdout) {
		t.Errorf("members after the restart:\n%s", stdout)
	}
}
