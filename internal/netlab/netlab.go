// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package netlab builds a small private network of Linux network namespaces
// for tests, so that a test can cut, reject and partition real TCP traffic
// with the kernel's firewall instead of a user-space proxy.
//
// Topology of one Lab:
//
//	root namespace (the test process)
//	  bridge tzb<pid>-<n>, address 10.213.X.1/24  = Lab.Gateway()
//	    |-- veth tzv<pid>-<n>-<h> <-> eth0 in namespace "tznl-<pid>-<n>-<name>", 10.213.X.h/24
//	    |-- ...
//
// Every host namespace has the loopback interface and one eth0 with a single
// connected /24 route and no default route: an address outside the lab's /24
// is unreachable from a host (connect fails at once with "network is
// unreachable"), so nothing a test runs inside a host can send packets off
// the machine. The bridge is a plain L2 bridge in the root namespace; hosts
// reach each other through it and the test process through the gateway
// address.
//
// The third octet X is chosen per Lab so that concurrent test binaries never
// share a subnet: the Lab holds an exclusive flock on
// /tmp/tooz-netlab-X.lock for its whole life and skips octets whose subnet
// overlaps an existing address or route of the machine. Interface and
// namespace names embed the test process' pid; New removes those of
// processes that no longer exist (left behind by a killed test binary), and
// the Lab's t.Cleanup removes its own.
//
// Faults are nftables rules in a host's own namespace (Host.Cut, Reject,
// CutFrom, Heal), so they affect exactly that host's traffic.
//
// The lab needs root (CAP_NET_ADMIN) and the ip (iproute2) and nft
// (nftables) commands. When they are missing New skips the test, except when
// the environment variable CI is set (and not "false" or "0"): then it fails.
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// basePrefix is the /16 from which labs take their /24s.
	basePrefix = "10.213"
	// setupTimeout bounds one ip/nft command.
	setupTimeout = 10 * time.Second
	// maxHosts is how many hosts fit in a /24 besides the gateway.
	maxHosts = 253
)

// labSeq numbers the labs of this process, so names stay unique when a test
// binary builds several labs.
var (
	labSeqMu sync.Mutex
	labSeq   int
)

// Lab is one private network: a bridge in the root namespace and hosts
// (network namespaces) attached to it. Its methods may be called from any
// goroutine.
type Lab struct {
	t       testing.TB
	ipPath  string
	nftPath string
	octet   int
	bridge  string
	prefix  string // name prefix of this lab's interfaces and namespaces
	lock    *os.File

	mu     sync.Mutex
	hosts  []*Host
	closed bool
}

// Host is one network namespace of a Lab with one interface, eth0, on the
// lab's /24.
type Host struct {
	// Name is the name given to AddHost.
	Name string
	// IP is the host's address on the lab network.
	IP string
	// Netns is the name of the network namespace (as in "ip netns list").
	Netns string

	lab  *Lab
	veth string // the root-namespace end of the host's veth pair

	mu sync.Mutex // serializes rule changes
}

// inCI reports whether the environment variable CI asks that missing
// capabilities fail the test instead of skipping it.
func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// unavailable skips the test, or fails it under CI.
func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "netlab: cannot build a network lab: " + why
	if inCI() {
		t.Fatalf("%s (CI is set: a missing capability fails the run)", msg)
		return
	}
	t.Skip(msg)
}

// New builds an empty lab (a bridge holding the gateway address) and
// registers its removal with t.Cleanup. It skips the test (fails it under
// CI) when the machine cannot build one.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "not running as root (network namespaces and nftables need CAP_NET_ADMIN)")
		return nil
	}
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		unavailable(t, "the ip command (iproute2) is not installed")
		return nil
	}
	nftPath, err := exec.LookPath("nft")
	if err != nil {
		unavailable(t, "the nft command (nftables) is not installed")
		return nil
	}
	l := &Lab{t: t, ipPath: ipPath, nftPath: nftPath}
	sweep(ipPath)

	labSeqMu.Lock()
	labSeq++
	n := labSeq
	labSeqMu.Unlock()
	pid36 := strconv.FormatInt(int64(os.Getpid()), 36)
	l.prefix = pid36 + "-" + strconv.FormatInt(int64(n), 36)
	l.bridge = "tzb" + l.prefix

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := l.pickSubnet(ctx); err != nil {
		unavailable(t, err.Error())
		return nil
	}
	t.Cleanup(l.cleanup)
	// A bridge without an address of its own takes the lowest MAC of its
	// ports, so adding a host could change the gateway's MAC under the
	// hosts' ARP caches: give it a fixed, locally administered one.
	if err := l.run(ctx, "link", "add", l.bridge, "address", l.bridgeMAC(n), "type", "bridge"); err != nil {
		unavailable(t, err.Error())
		return nil
	}
	if err := l.runAll(ctx,
		[]string{"addr", "add", l.Gateway() + "/24", "dev", l.bridge},
		[]string{"link", "set", l.bridge, "up"},
	); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	t.Logf("netlab: lab %s on %s.%d.0/24 (gateway %s)", l.bridge, basePrefix, l.octet, l.Gateway())
	return l
}

// bridgeMAC is 02:7a:<pid, 3 bytes>:<lab number>: locally administered,
// unicast, unique among the labs of one machine in practice.
func (l *Lab) bridgeMAC(n int) string {
	pid := os.Getpid()
	return fmt.Sprintf("02:7a:%02x:%02x:%02x:%02x", byte(pid>>16), byte(pid>>8), byte(pid), byte(n))
}

// Gateway returns the bridge's address in the root namespace. A server or
// listener of the test process bound to it is reachable from every host.
func (l *Lab) Gateway() string { return fmt.Sprintf("%s.%d.1", basePrefix, l.octet) }

// Subnet returns the lab's network, e.g. "10.213.7.0/24".
func (l *Lab) Subnet() string { return fmt.Sprintf("%s.%d.0/24", basePrefix, l.octet) }

// AddHost creates a host: a network namespace with lo up and an eth0 on the
// lab network with its own address. Names must be unique within the lab
// (letters, digits, '-' and '_'). A failure fails the test.
func (l *Lab) AddHost(name string) *Host {
	l.t.Helper()
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			l.t.Fatalf("netlab: host name %q: only letters, digits, '-' and '_' are allowed", name)
		}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.t.Fatalf("netlab: AddHost(%q) after the lab was cleaned up", name)
	}
	for _, h := range l.hosts {
		if h.Name == name {
			l.mu.Unlock()
			l.t.Fatalf("netlab: host %q already exists", name)
		}
	}
	idx := len(l.hosts) + 1
	if idx > maxHosts {
		l.mu.Unlock()
		l.t.Fatalf("netlab: more than %d hosts", maxHosts)
	}
	h := &Host{
		Name:  name,
		IP:    fmt.Sprintf("%s.%d.%d", basePrefix, l.octet, idx+1),
		Netns: "tznl-" + l.prefix + "-" + name,
		lab:   l,
		veth:  "tzv" + l.prefix + "-" + strconv.FormatInt(int64(idx), 36),
	}
	// Registered before creation, so that cleanup removes a half-built host.
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	err := l.runAll(ctx,
		[]string{"netns", "add", h.Netns},
		[]string{"link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.Netns},
		[]string{"link", "set", h.veth, "master", l.bridge},
		[]string{"link", "set", h.veth, "up"},
		[]string{"-n", h.Netns, "link", "set", "lo", "up"},
		[]string{"-n", h.Netns, "addr", "add", h.IP + "/24", "dev", "eth0"},
		[]string{"-n", h.Netns, "link", "set", "eth0", "up"},
	)
	if err != nil {
		l.t.Fatalf("netlab: add host %q: %v", name, err)
	}
	return h
}

// Command returns a command that runs path with args inside the host's
// network namespace ("ip netns exec", which execs the program: the
// process' pid is the program's, and SysProcAttr settings such as Setpgid
// and Pdeathsig that the caller sets apply to it).
func (h *Host) Command(path string, args ...string) *exec.Cmd {
	return exec.Command(h.lab.ipPath, append([]string{"netns", "exec", h.Netns, path}, args...)...)
}

// Listen opens a listener inside the host's network namespace (the socket
// stays in that namespace for its life), e.g. on h.IP+":0".
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := h.inNetns(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// Dial connects from inside the host's network namespace, as a program
// running on the host would.
func (h *Host) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := h.inNetns(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// inNetns runs f on an OS thread that has entered the host's network
// namespace, then moves the thread back to its own namespace. Only if that
// fails does the thread stay locked and end with the goroutine: a thread
// must not end needlessly, because a child started from it with Pdeathsig
// (testserver, the fault tests) would be killed when it does.
func (h *Host) inNetns(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: open own namespace: %w", err)
			return
		}
		defer unix.Close(own)
		fd, err := unix.Open("/run/netns/"+h.Netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: open namespace %s: %w", h.Netns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: enter namespace %s: %w", h.Netns, err)
			return
		}
		ferr := f()
		if err := unix.Setns(own, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked and ends with this goroutine
		errc <- ferr
	}()
	return <-errc
}

// nftTable is the name of the table that holds a host's fault rules.
const nftTable = "tooz_netlab"

// Cut silently drops every packet into and out of the host's eth0, like a
// dropping firewall or a pulled cable: connects and writes go unanswered
// until their deadlines pass. Established connections survive and resume
// after Heal if neither side gave up. It replaces any earlier rule of the
// host (Cut, Reject, CutFrom or RejectFrom).
func (h *Host) Cut(ctx context.Context) error { return h.block(ctx, false, "") }

// Reject refuses every packet into and out of the host's eth0 with a TCP
// reset (other protocols: ICMP unreachable), so that both sides get fast
// errors instead of timeouts. Only the refusals themselves (TCP resets and
// ICMP destination-unreachable) leave the host. It replaces any earlier
// rule of the host.
func (h *Host) Reject(ctx context.Context) error { return h.block(ctx, true, "") }

// CutFrom silently drops only the traffic between the host and the given
// addresses (a partial partition); the host still reaches everything else.
// It replaces any earlier rule of the host (a bad address changes nothing).
// Without addresses it heals.
func (h *Host) CutFrom(ctx context.Context, ips ...string) error {
	set, err := addrSet("CutFrom", ips)
	if err != nil {
		return err
	}
	if set == "" {
		return h.Heal(ctx)
	}
	return h.block(ctx, false, set)
}

// RejectFrom is CutFrom with Reject's fast refusals instead of silence.
func (h *Host) RejectFrom(ctx context.Context, ips ...string) error {
	set, err := addrSet("RejectFrom", ips)
	if err != nil {
		return err
	}
	if set == "" {
		return h.Heal(ctx)
	}
	return h.block(ctx, true, set)
}

// addrSet validates IPv4 addresses and returns them as an nftables set
// ("{ a, b }"), or "" for none.
func addrSet(op string, ips []string) (string, error) {
	if len(ips) == 0 {
		return "", nil
	}
	set := make([]string, 0, len(ips))
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("netlab: %s: %q is not an IPv4 address", op, ip)
		}
		set = append(set, a.String())
	}
	return "{ " + strings.Join(set, ", ") + " }", nil
}

// block installs the rules of Cut (reject false) or Reject (true), for all
// traffic of eth0 or, when peers is an address set, only for the traffic
// from and to those peers.
func (h *Host) block(ctx context.Context, reject bool, peers string) error {
	in, out := `iifname "eth0"`, `oifname "eth0"`
	if peers != "" {
		in += " ip saddr " + peers
		out += " ip daddr " + peers
	}
	var b strings.Builder
	b.WriteString("\n\t\tchain input { type filter hook input priority 0; policy accept;\n")
	if reject {
		fmt.Fprintf(&b, "\t\t\t%s meta l4proto tcp reject with tcp reset;\n", in)
		fmt.Fprintf(&b, "\t\t\t%s reject with icmpx type admin-prohibited;\n", in)
	} else {
		fmt.Fprintf(&b, "\t\t\t%s drop;\n", in)
	}
	b.WriteString("\t\t}\n\t\tchain output { type filter hook output priority 0; policy accept;\n")
	if reject {
		// The refusals that input generates leave through output: let
		// them pass, or the peer would see silence.
		fmt.Fprintf(&b, "\t\t\t%s tcp flags rst accept;\n", out)
		fmt.Fprintf(&b, "\t\t\t%s icmp type destination-unreachable accept;\n", out)
		fmt.Fprintf(&b, "\t\t\t%s meta l4proto tcp reject with tcp reset;\n", out)
		fmt.Fprintf(&b, "\t\t\t%s reject with icmpx type admin-prohibited;\n", out)
	} else {
		fmt.Fprintf(&b, "\t\t\t%s drop;\n", out)
	}
	b.WriteString("\t\t}")
	return h.apply(ctx, b.String())
}

// Heal removes the host's fault rules. Healing a host without rules does
// nothing.
func (h *Host) Heal(ctx context.Context) error { return h.apply(ctx, "") }

// apply replaces the host's fault table with one holding chains, in one
// nftables transaction (an empty chains removes the table).
func (h *Host) apply(ctx context.Context, chains string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Declaring the table first makes the delete valid when it does not
	// exist yet; the whole script is applied atomically.
	script := "table inet " + nftTable + " {}\ndelete table inet " + nftTable + "\n"
	if chains != "" {
		script += "table inet " + nftTable + " {" + chains + "\n}\n"
	}
	cmd := exec.CommandContext(ctx, h.lab.ipPath, "netns", "exec", h.Netns, h.lab.nftPath, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: nft in %s: %v: %s", h.Netns, err, bytes.TrimSpace(out))
	}
	return nil
}

// run runs "ip args...".
func (l *Lab) run(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, l.ipPath, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (l *Lab) runAll(ctx context.Context, cmds ...[]string) error {
	for _, c := range cmds {
		if err := l.run(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

// pickSubnet takes the first free octet: one whose lock file this process
// can lock and whose /24 overlaps nothing on the machine.
func (l *Lab) pickSubnet(ctx context.Context) error {
	start := os.Getpid() % 250
	for i := 0; i < 250; i++ {
		octet := (start+i)%250 + 1
		f, err := os.OpenFile(fmt.Sprintf("/tmp/tooz-netlab-%d.lock", octet), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("lock file: %v", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		used, err := l.subnetInUse(ctx, octet)
		if err != nil {
			f.Close()
			return err
		}
		if used {
			f.Close()
			continue
		}
		l.octet, l.lock = octet, f
		return nil
	}
	return errors.New("no free subnet in " + basePrefix + ".0.0/16")
}

// subnetInUse reports whether the /24 of octet overlaps an address or a
// route (other than a default route) of the root namespace.
func (l *Lab) subnetInUse(ctx context.Context, octet int) (bool, error) {
	mine := netip.MustParsePrefix(fmt.Sprintf("%s.%d.0/24", basePrefix, octet))
	var found bool
	for _, args := range [][]string{
		{"-4", "-o", "addr", "show"},
		{"-4", "route", "show", "table", "all"},
	} {
		out, err := exec.CommandContext(ctx, l.ipPath, args...).Output()
		if err != nil {
			return false, fmt.Errorf("ip %s: %v", strings.Join(args, " "), err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			for _, f := range strings.Fields(line) {
				p, ok := parsePrefix(f)
				if ok && p.Bits() > 0 && p.Overlaps(mine) {
					found = true
				}
			}
		}
	}
	return found, nil
}

// parsePrefix reads "a.b.c.d/n" or "a.b.c.d" (a /32).
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), p.Addr().Is4()
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return netip.PrefixFrom(a, 32), true
	}
	return netip.Prefix{}, false
}

// cleanup removes the lab's namespaces (their eth0 ends go with them, and
// the root ends of the veth pairs with those) and the bridge, then releases
// the subnet.
func (l *Lab) cleanup() {
	l.mu.Lock()
	l.closed = true
	hosts := l.hosts
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	for _, h := range hosts {
		if err := l.run(ctx, "netns", "del", h.Netns); err != nil && !strings.Contains(err.Error(), "No such file") {
			l.t.Errorf("netlab: cleanup: %v", err)
		}
		// Normally gone with the namespace; a half-built host may have left it.
		_ = l.run(ctx, "link", "del", h.veth)
	}
	if err := l.run(ctx, "link", "del", l.bridge); err != nil {
		l.t.Errorf("netlab: cleanup: %v", err)
	}
	l.lock.Close() // releases the flock
}

// sweep removes namespaces and interfaces that labs of processes that no
// longer exist left behind. Errors are ignored: another process may be
// sweeping the same leftovers.
func sweep(ipPath string) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, ipPath, "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || !strings.HasPrefix(f[0], "tznl-") {
				continue
			}
			if pidDead(strings.TrimPrefix(f[0], "tznl-")) {
				_ = exec.CommandContext(ctx, ipPath, "netns", "del", f[0]).Run()
			}
		}
	}
	if out, err := exec.CommandContext(ctx, ipPath, "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			// "12: tzb1a2b-1: <BROADCAST,...": the name is the second field,
			// "name@peer:" for veths.
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name := strings.TrimSuffix(f[1], ":")
			if i := strings.IndexByte(name, '@'); i >= 0 {
				name = name[:i]
			}
			if !strings.HasPrefix(name, "tzb") && !strings.HasPrefix(name, "tzv") {
				continue
			}
			if pidDead(name[3:]) {
				_ = exec.CommandContext(ctx, ipPath, "link", "del", name).Run()
			}
		}
	}
}

// pidDead reads the base-36 pid before the first '-' of rest and reports
// whether that process no longer exists.
func pidDead(rest string) bool {
	s, _, ok := strings.Cut(rest, "-")
	if !ok {
		return false
	}
	pid, err := strconv.ParseInt(s, 36, 32)
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(int(pid), 0)
	return errors.Is(err, syscall.ESRCH)
}
