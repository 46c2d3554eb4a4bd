// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package netlab_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/netlab"
)

// Deadlines: a cut must make a read wait at least silentFor without an
// error, and recovery after Heal gets recoverTimeout (TCP retransmission
// back-off plus a loaded machine).
const (
	silentFor      = 700 * time.Millisecond
	fastError      = time.Second
	recoverTimeout = 15 * time.Second
)

// echo serves l: every connection gets back what it sends.
func echo(t *testing.T, l net.Listener) string {
	t.Helper()
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

// echoOn listens on ip:0 inside h (or in the test process when h is nil).
func echoOn(t *testing.T, h *netlab.Host, ip string) string {
	t.Helper()
	var (
		l   net.Listener
		err error
	)
	if h == nil {
		l, err = net.Listen("tcp4", ip+":0")
	} else {
		l, err = h.Listen("tcp4", ip+":0")
	}
	if err != nil {
		t.Fatal(err)
	}
	return echo(t, l)
}

type dialer interface {
	Dial(ctx context.Context, network, address string) (net.Conn, error)
}

type rootDialer struct{}

func (rootDialer) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// roundTrip sends a line on c and reads it back within timeout.
func roundTrip(c net.Conn, msg string, timeout time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != msg+"\n" {
		return errors.New("echo returned " + strconv.Quote(got))
	}
	return nil
}

// reach dials addr from d and makes one round trip.
func reach(d dialer, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.Dial(ctx, "tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTrip(c, "ping", timeout)
}

func mustReach(t *testing.T, what string, d dialer, addr string) {
	t.Helper()
	if err := reach(d, addr, 5*time.Second); err != nil {
		t.Fatalf("%s: %s unreachable: %v", what, addr, err)
	}
}

// mustBeSilent checks that dialing addr from d neither succeeds nor fails
// before the timeout: the packets are dropped.
func mustBeSilent(t *testing.T, what string, d dialer, addr string) {
	t.Helper()
	began := time.Now()
	err := reach(d, addr, silentFor)
	if err == nil {
		t.Fatalf("%s: %s reachable through a cut", what, addr)
	}
	if el := time.Since(began); el < silentFor-50*time.Millisecond {
		t.Fatalf("%s: %s failed after %v, before the deadline (not a silent drop): %v", what, addr, el, err)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHostsReachEachOtherAndTheGateway(t *testing.T) {
	lab := netlab.New(t)
	a, b := lab.AddHost("a"), lab.AddHost("b")
	if a.IP == b.IP || a.IP == lab.Gateway() {
		t.Fatalf("addresses not distinct: a %s b %s gateway %s", a.IP, b.IP, lab.Gateway())
	}
	onB := echoOn(t, b, b.IP)
	onGW := echoOn(t, nil, lab.Gateway())
	mustReach(t, "a -> b", a, onB)
	mustReach(t, "root -> b", rootDialer{}, onB)
	mustReach(t, "a -> gateway", a, onGW)
}

func TestCommandRunsInTheHost(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("cmd")
	cmd := h.Command("/bin/sh", "-c", "echo $$; readlink /proc/self/ns/net")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(out.String())
	if len(lines) != 2 {
		t.Fatalf("output %q", out.String())
	}
	if lines[0] != strconv.Itoa(pid) {
		t.Errorf("program pid %s, started pid %d: ip netns exec did not exec", lines[0], pid)
	}
	rootNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if lines[1] == rootNS {
		t.Errorf("program runs in the root network namespace %s", rootNS)
	}
}

func TestCutDropsSilentlyAndHealRestoresTheConnection(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddHost("a")
	onGW := echoOn(t, nil, lab.Gateway())

	ctx := ctxT(t)
	c, err := a.Dial(ctx, "tcp4", onGW)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.Cut(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Cut(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	// The established connection: the write is buffered, the answer never
	// comes, and no reset ends the connection.
	began := time.Now()
	err = roundTrip(c, "during", silentFor)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("round trip during the cut: %v after %v, want a timeout", err, time.Since(began))
	}
	mustBeSilent(t, "new connection a -> gateway", a, onGW)

	if err := a.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Heal(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	// The same connection works again once TCP retransmits: the echo of
	// "during" arrives first.
	_ = c.SetDeadline(time.Now().Add(recoverTimeout))
	r := bufio.NewReader(c)
	got, err := r.ReadString('\n')
	if err != nil || got != "during\n" {
		t.Fatalf("after Heal: read %q, %v; want the echo of the write made during the cut", got, err)
	}
	if _, err := io.WriteString(c, "after\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := r.ReadString('\n'); err != nil || got != "after\n" {
		t.Fatalf("after Heal: read %q, %v", got, err)
	}
	mustReach(t, "new connection after Heal", a, onGW)
}

func TestRejectFailsFast(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddHost("a")
	onGW := echoOn(t, nil, lab.Gateway())
	onA := echoOn(t, a, a.IP)
	ctx := ctxT(t)

	c, err := a.Dial(ctx, "tcp4", onGW)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.Reject(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what string
		f    func() error
	}{
		{"established connection", func() error { return roundTrip(c, "during", 5*time.Second) }},
		{"a -> gateway", func() error { return reach(a, onGW, 5*time.Second) }},
		{"root -> a", func() error { return reach(rootDialer{}, onA, 5*time.Second) }},
	} {
		began := time.Now()
		err := tc.f()
		el := time.Since(began)
		if err == nil {
			t.Errorf("%s: works through Reject", tc.what)
			continue
		}
		var ne net.Error
		if el > fastError || (errors.As(err, &ne) && ne.Timeout()) {
			t.Errorf("%s: %v after %v, want a fast refusal", tc.what, err, el)
		}
		t.Logf("%s: %v after %v", tc.what, err, el.Round(time.Millisecond))
	}
	if err := a.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	mustReach(t, "a -> gateway after Heal", a, onGW)
}

func TestCutFromIsolatesOnlyFromTheNamedPeers(t *testing.T) {
	lab := netlab.New(t)
	a, b, c := lab.AddHost("a"), lab.AddHost("b"), lab.AddHost("c")
	onB := echoOn(t, b, b.IP)
	onC := echoOn(t, c, c.IP)
	onA := echoOn(t, a, a.IP)
	onGW := echoOn(t, nil, lab.Gateway())
	ctx := ctxT(t)

	if err := a.CutFrom(ctx, b.IP); err != nil {
		t.Fatal(err)
	}
	mustBeSilent(t, "a -> b", a, onB)
	mustBeSilent(t, "b -> a", b, onA)
	mustReach(t, "a -> c", a, onC)
	mustReach(t, "c -> a", c, onA)
	mustReach(t, "a -> gateway", a, onGW)
	mustReach(t, "b -> c", b, onC)

	// A second CutFrom replaces the first.
	if err := a.CutFrom(ctx, c.IP, lab.Gateway()); err != nil {
		t.Fatal(err)
	}
	mustReach(t, "a -> b after re-cut", a, onB)
	mustBeSilent(t, "a -> c after re-cut", a, onC)
	mustBeSilent(t, "a -> gateway after re-cut", a, onGW)

	if err := a.CutFrom(ctx, "not-an-ip"); err == nil {
		t.Error("CutFrom accepted a bad address")
	}
	if err := a.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	mustReach(t, "a -> c after Heal", a, onC)
}

func TestNothingRoutesOffTheMachine(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddHost("a")
	for _, addr := range []string{"192.0.2.1:9", "8.8.8.8:53", "10.213.255.1:9"} {
		began := time.Now()
		err := reach(a, addr, 5*time.Second)
		el := time.Since(began)
		if err == nil || !errors.Is(err, syscall.ENETUNREACH) || el > fastError {
			t.Errorf("a -> %s: %v after %v, want at once %q", addr, err, el, syscall.ENETUNREACH)
		}
	}
}

func TestCleanupRemovesEverything(t *testing.T) {
	var netns, bridge string
	t.Run("lab", func(t *testing.T) {
		lab := netlab.New(t)
		h := lab.AddHost("gone")
		netns = h.Netns
		if err := h.Cut(ctxT(t)); err != nil { // rules must not stop the cleanup
			t.Fatal(err)
		}
		bridge = findBridge(t, lab.Gateway())
	})
	if t.Skipped() || netns == "" {
		return
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	if strings.Contains(string(out), netns) {
		t.Errorf("namespace %s left behind:\n%s", netns, out)
	}
	out, err = exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v: %s", err, out)
	}
	if strings.Contains(string(out), bridge+":") {
		t.Errorf("bridge %s left behind:\n%s", bridge, out)
	}
}

// findBridge returns the name of the interface that holds the address ip.
func findBridge(t *testing.T, ip string) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && strings.HasPrefix(f[3], ip+"/") {
			return f[1]
		}
	}
	t.Fatalf("no interface holds %s:\n%s", ip, out)
	return ""
}

func TestSubnetsDoNotOverlap(t *testing.T) {
	first := netlab.New(t)
	// Occupy, with an address on a spare interface (a bridge: this kernel has no dummy module), the subnet right after
	// the first lab's: the next lab would try it first.
	octet, err := strconv.Atoi(strings.Split(first.Gateway(), ".")[2])
	if err != nil {
		t.Fatal(err)
	}
	taken := "10.213." + strconv.Itoa(octet%250+1) + ".77/24"
	dummy := "tzv" + strconv.FormatInt(int64(os.Getpid()), 36) + "-zz"
	if out, err := exec.Command("ip", "link", "add", dummy, "type", "bridge").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", dummy).Run() })
	if out, err := exec.Command("ip", "addr", "add", taken, "dev", dummy).CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	second := netlab.New(t)
	if second.Subnet() == first.Subnet() {
		t.Errorf("two live labs share %s", first.Subnet())
	}
	if strings.HasPrefix(taken, strings.TrimSuffix(second.Subnet(), "0/24")) {
		t.Errorf("lab took %s, which overlaps the address %s", second.Subnet(), taken)
	}
}

func TestNewSweepsLeftoversOfDeadProcesses(t *testing.T) {
	// A pid that no longer exists: a process that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.FormatInt(int64(cmd.Process.Pid), 36)
	netns, bridge := "tznl-"+dead+"-1-left", "tzb"+dead+"-1"
	for _, args := range [][]string{{"netns", "add", netns}, {"link", "add", bridge, "type", "bridge"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", netns).Run()
		_ = exec.Command("ip", "link", "del", bridge).Run()
	})
	netlab.New(t)
	if out, _ := exec.Command("ip", "netns", "list").CombinedOutput(); strings.Contains(string(out), netns) {
		t.Errorf("leftover namespace %s not swept", netns)
	}
	if err := exec.Command("ip", "link", "show", bridge).Run(); err == nil {
		t.Errorf("leftover bridge %s not swept", bridge)
	}
}

func TestRejectFromRefusesOnlyTheNamedPeers(t *testing.T) {
	lab := netlab.New(t)
	a, b, c := lab.AddHost("a"), lab.AddHost("b"), lab.AddHost("c")
	onA, onB, onC := echoOn(t, a, a.IP), echoOn(t, b, b.IP), echoOn(t, c, c.IP)
	ctx := ctxT(t)
	if err := a.RejectFrom(ctx, b.IP); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what string
		d    dialer
		addr string
	}{{"a -> b", a, onB}, {"b -> a", b, onA}} {
		began := time.Now()
		err := reach(tc.d, tc.addr, 5*time.Second)
		if el := time.Since(began); err == nil || el > fastError {
			t.Errorf("%s: %v after %v, want a fast refusal", tc.what, err, el)
		}
	}
	mustReach(t, "a -> c", a, onC)
	mustReach(t, "c -> a", c, onA)
	if err := a.RejectFrom(ctx, "::1"); err == nil {
		t.Error("RejectFrom accepted an IPv6 address")
	}
	if err := a.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	mustReach(t, "a -> b after Heal", a, onB)
}

func TestGatewayMACStaysPut(t *testing.T) {
	lab := netlab.New(t)
	mac := func() string {
		out, err := exec.Command("ip", "-o", "link", "show", findBridge(t, lab.Gateway())).CombinedOutput()
		if err != nil {
			t.Fatalf("ip link: %v: %s", err, out)
		}
		f := strings.Fields(string(out))
		for i := range f {
			if f[i] == "link/ether" && i+1 < len(f) {
				return f[i+1]
			}
		}
		t.Fatalf("no MAC in %s", out)
		return ""
	}
	before := mac()
	// A bridge would otherwise take the lowest MAC of its ports: with
	// random port MACs, a few hosts change it almost surely.
	for i := range 8 {
		lab.AddHost("h" + strconv.Itoa(i))
		if now := mac(); now != before {
			t.Fatalf("the gateway's MAC changed from %s to %s when host %d joined: the hosts' ARP caches go stale", before, now, i)
		}
	}
}

func TestNamespaceSocketsKeepThreadsAlive(t *testing.T) {
	// Children started with Pdeathsig die when the OS thread that forked
	// them ends. Start some from many threads, then open sockets in a host
	// many times: no thread may end, so every child must live on.
	lab := netlab.New(t)
	h := lab.AddHost("threads")
	var children []*exec.Cmd
	for range 16 {
		started := make(chan *exec.Cmd, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cmd := exec.Command("sleep", "60")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Error(err)
				cmd = nil
			}
			started <- cmd
		}()
		if cmd := <-started; cmd != nil {
			children = append(children, cmd)
		}
	}
	t.Cleanup(func() {
		for _, c := range children {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	ctx := ctxT(t)
	onGW := echoOn(t, nil, lab.Gateway())
	for range 64 {
		l, err := h.Listen("tcp4", h.IP+":0")
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		c, err := h.Dial(ctx, "tcp4", onGW)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	for _, c := range children {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(c.Process.Pid, &ws, syscall.WNOHANG, nil)
		if err == nil && pid == c.Process.Pid {
			t.Errorf("child %d ended (%v): the thread that started it ended", pid, ws)
		}
	}
}

func TestCommandKeepsSetpgidAndPdeathsig(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("pdeath")
	type result struct {
		cmd    *exec.Cmd
		onMain bool
	}
	started := make(chan result, 1)
	start := func() {
		// Locked and never unlocked: the thread ends with this goroutine,
		// which must send the child its Pdeathsig through "ip netns exec".
		// Except the main thread, which the runtime never ends: a
		// goroutine that lands there lets go and the test tries again.
		runtime.LockOSThread()
		if syscall.Gettid() == syscall.Getpid() {
			runtime.UnlockOSThread()
			started <- result{onMain: true}
			return
		}
		cmd := h.Command("/bin/sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Error(err)
			cmd = nil
		}
		started <- result{cmd: cmd}
	}
	var r result
	for r = (result{onMain: true}); r.onMain; r = <-started {
		go start()
	}
	cmd := r.cmd
	if cmd == nil {
		return
	}
	if pgid, err := syscall.Getpgid(cmd.Process.Pid); err == nil && pgid != cmd.Process.Pid {
		t.Errorf("child pgid %d, want its own group %d", pgid, cmd.Process.Pid)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("child ended with %v, want SIGKILL (its Pdeathsig)", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Error("child still running 10s after the thread that started it ended: Pdeathsig lost")
	}
}

func TestRulesFromManyGoroutines(t *testing.T) {
	lab := netlab.New(t)
	a, b := lab.AddHost("a"), lab.AddHost("b")
	onB := echoOn(t, b, b.IP)
	ctx := ctxT(t)
	errc := make(chan error, 40)
	for i := range 40 {
		go func() {
			switch i % 4 {
			case 0:
				errc <- a.Cut(ctx)
			case 1:
				errc <- a.RejectFrom(ctx, b.IP)
			case 2:
				errc <- a.CutFrom(ctx, b.IP, lab.Gateway())
			default:
				errc <- a.Heal(ctx)
			}
		}()
	}
	for range 40 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if err := a.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	mustReach(t, "a -> b after the last Heal", a, onB)
}
