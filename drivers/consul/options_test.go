// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

func TestBadURLs(t *testing.T) {
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	ctx := testutil.Context(t, 10*time.Second)
	addr := testutil.ClosedPort(t)
	for _, u := range []string{
		"consul://" + addr + "?bogus=1",
		"consul://" + addr + "?consistency=linearizable",
		"consul://" + addr + "?lock_delay=-1s",
		"consul://" + addr + "?lock_delay=61s",
		"consul://" + addr + "?lock_delay=soon",
		"consul://" + addr + "?datacenter=",
		"consul://" + addr + "?ca=/etc/ssl/ca.pem",
		"consul+https://" + addr + "?cert=/tmp/c.pem",
		"consul+https://" + addr + "?ca=" + filepath.Join(t.TempDir(), "missing.pem"),
		"consul://" + addr + ",127.0.0.1:8500",
		"consul://" + addr + "/some/path",
		"consul://" + addr + "?timeout=48h",
	} {
		_, err := tooz.Open(ctx, u, "m")
		if !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", u, err)
		}
	}
}

func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		url, addr string
		delay     time.Duration
	}{
		{"consul://", "127.0.0.1:8500", 0},
		{"consul://agent", "agent:8500", 0},
		{"consul+https://agent", "agent:8501", 0},
		{"consul://[::1]", "[::1]:8500", 0},
		{"consul://agent:1234?lock_delay=0", "agent:1234", 0},
		{"consul://agent:1234?lock_delay=2.5", "agent:1234", 2500 * time.Millisecond},
		{"consul://agent:1234?lock_delay=60s", "agent:1234", 60 * time.Second},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		cfg := tooz.Config{URL: u, Options: map[string]string{}, Timeout: time.Second}
		if u.Host != "" {
			cfg.Hosts = strings.Split(u.Host, ",")
		}
		for k, v := range u.Query() {
			cfg.Options[k] = v[0]
		}
		s, err := parseSettings(cfg)
		if err != nil || s.address != tc.addr || s.lockDelay != tc.delay || s.consistency != modeConsistent {
			t.Errorf("%s: %+v, %v; want address %s, lock delay %v, consistent reads", tc.url, s, err, tc.addr, tc.delay)
		}
	}
}

// TestUnreachable checks the error for an agent that does not answer: a
// connection error, without the token.
func TestUnreachable(t *testing.T) {
	const secret = "5ecr3t-t0ken-never-printed"
	ctx := testutil.Context(t, 10*time.Second)
	logs := newLogSink()
	addr := testutil.ClosedPort(t)
	_, err := tooz.Open(ctx, "consul://"+addr+"?token="+secret, "m", tooz.WithLogger(slog.New(logs)))
	if !errors.Is(err, tooz.ErrConnection) {
		t.Fatalf("Open on a closed port: %v, want ErrConnection", err)
	}
	t.Setenv("CONSUL_HTTP_TOKEN", secret)
	_, err2 := tooz.Open(ctx, "consul://"+addr, "m", tooz.WithLogger(slog.New(logs)))
	if !errors.Is(err2, tooz.ErrConnection) {
		t.Fatalf("Open on a closed port: %v, want ErrConnection", err2)
	}
	for _, s := range append(logs.all(), err.Error(), err2.Error()) {
		if strings.Contains(s, secret) {
			t.Fatalf("the token leaked: %q", s)
		}
	}
}

// TestTimeoutRefused checks that a timeout the servers refuse as a session
// TTL (the test agent's session_ttl_min is 1s) is reported as a bad URL.
func TestTimeoutRefused(t *testing.T) {
	s := testserver.StartConsul(t)
	ctx := testutil.Context(t, 10*time.Second)
	_, err := tooz.Open(ctx, "consul://"+s.Addr, "m", tooz.WithTimeout(300*time.Millisecond))
	if !errors.Is(err, tooz.ErrInvalidURL) || !strings.Contains(err.Error(), "TTL") {
		t.Fatalf("Open with a 300ms timeout: %v, want ErrInvalidURL naming the TTL", err)
	}
}

// TestConsistencyModes checks the characteristics each read mode declares,
// and that the weaker modes work.
func TestConsistencyModes(t *testing.T) {
	s := testserver.StartConsul(t)
	ctx := testutil.Context(t, 30*time.Second)
	for _, mode := range []string{modeDefault, modeStale} {
		h := newHarness(s, "&consistency="+mode)
		c := open(t, h, "a")
		chars := c.Characteristics()
		if slices.Contains(chars, tooz.Linearizable) || !slices.Contains(chars, tooz.DistributedAcrossHosts) {
			t.Fatalf("consistency=%s declares %v", mode, chars)
		}
		if _, err := h.Open(ctx, nil, "b", tooz.Require(tooz.Linearizable)); !errors.Is(err, tooz.ErrDriverChosenPoorly) {
			t.Fatalf("consistency=%s with Require(Linearizable): %v, want ErrDriverChosenPoorly", mode, err)
		}
		g := testutil.Unique("g")
		testutil.Must(t, c.JoinGroupCreate(ctx, g, []byte("x")), "join")
		// Reads in a weaker mode may lag, but on one agent the join is
		// there by the time a blocking read has seen its index.
		ms, err := c.MembersWithCapabilities(ctx, g)
		if err != nil || string(ms["a"]) != "x" {
			t.Fatalf("consistency=%s: members %v, %v", mode, ms, err)
		}
	}
}

// TestACL runs against an agent with ACLs on (default deny): tokens reach
// the servers, refusals are ErrAuth, and no token ever appears in an
// error, a log line or the coordinator's URL.
func TestACL(t *testing.T) {
	const mgmt = "6f4f3c3e-8d1a-4f6e-9b7c-1d2e3f4a5b6c"
	s := testserver.StartConsul(t, testserver.WithArgs("-hcl",
		`acl { enabled = true, default_policy = "deny", tokens { initial_management = "`+mgmt+`" } }`))
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	ctx := testutil.Context(t, time.Minute)
	logs := newLogSink()
	ns := testutil.Unique("acl")
	base := "consul://" + s.Addr + "?namespace=" + ns
	var errs []string

	// No token, and a token the servers do not know.
	const unknown = "0b1e6f8a-0000-4000-8000-5ec2e70000ff"
	for _, u := range []string{base, base + "&token=" + unknown} {
		_, err := tooz.Open(ctx, u, "m", tooz.WithLogger(slog.New(logs)), tooz.WithTimeout(testTimeout))
		if !errors.Is(err, tooz.ErrAuth) {
			t.Fatalf("Open(%q): %v, want ErrAuth", u, err)
		}
		errs = append(errs, err.Error())
		t.Logf("refused: %v", err)
	}

	// A token that may create sessions and read keys, but not write them.
	cfg := api.DefaultConfig()
	cfg.Address, cfg.Token = s.Addr, mgmt
	raw, err := api.NewClient(cfg)
	testutil.Must(t, err, "raw client")
	pol, _, err := raw.ACL().PolicyCreate(&api.ACLPolicy{
		Name:  "tooz-read-only",
		Rules: `key_prefix "" { policy = "read" } session_prefix "" { policy = "write" }`,
	}, nil)
	testutil.Must(t, err, "create policy")
	ro, _, err := raw.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: pol.ID}}}, nil)
	testutil.Must(t, err, "create token")
	c, err := tooz.Open(ctx, base+"&token="+ro.SecretID, "ro", tooz.WithLogger(slog.New(logs)), tooz.WithTimeout(testTimeout))
	testutil.Must(t, err, "open with the read-only token")
	g := testutil.Unique("g")
	err = c.CreateGroup(ctx, g)
	if !errors.Is(err, tooz.ErrAuth) {
		t.Fatalf("CreateGroup with a read-only token: %v, want ErrAuth", err)
	}
	errs = append(errs, err.Error())
	_, err = c.Lock("l").TryAcquire(ctx)
	if !errors.Is(err, tooz.ErrAuth) {
		t.Fatalf("TryAcquire with a read-only token: %v, want ErrAuth", err)
	}
	errs = append(errs, err.Error(), c.URL())
	t.Logf("refused: %v", err)
	testutil.Must(t, c.Close(ctx), "close")

	// The management token, from the URL and from the environment.
	a, err := tooz.Open(ctx, base+"&token="+mgmt, "a", tooz.WithLogger(slog.New(logs)), tooz.WithTimeout(testTimeout))
	testutil.Must(t, err, "open with the management token")
	errs = append(errs, a.URL())
	t.Setenv("CONSUL_HTTP_TOKEN", mgmt)
	b, err := tooz.Open(ctx, base, "b", tooz.WithLogger(slog.New(logs)), tooz.WithTimeout(testTimeout))
	testutil.Must(t, err, "open with the token in CONSUL_HTTP_TOKEN")
	testutil.Must(t, a.JoinGroupCreate(ctx, g, nil), "a joins")
	testutil.Must(t, b.JoinGroup(ctx, g, nil), "b joins")
	l := a.Lock("l")
	testutil.Must(t, l.Acquire(ctx), "a locks")
	ok, err := b.Lock("l").TryAcquire(ctx)
	if ok || err != nil {
		t.Fatalf("b's TryAcquire of a's lock: %v, %v", ok, err)
	}
	testutil.Must(t, l.Release(ctx), "a releases")
	testutil.Must(t, a.Close(ctx), "close a")
	testutil.Must(t, b.Close(ctx), "close b")
	for _, s := range append(logs.all(), errs...) {
		if strings.Contains(s, mgmt) || strings.Contains(s, ro.SecretID) || strings.Contains(s, unknown) {
			t.Fatalf("a token leaked: %q", s)
		}
	}
}

// TestTLS runs against an agent serving HTTPS with client certificates
// required: consul+https with ca, cert and key works; without the client
// certificate, or without the CA, it is refused.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	httpsAddr := testutil.ClosedPort(t)
	_, port, _ := net.SplitHostPort(httpsAddr)
	s := testserver.StartConsul(t, testserver.WithArgs(
		"-hcl", "ports { https = "+port+" }",
		"-hcl", fmt.Sprintf(`tls { defaults { ca_file = %q, cert_file = %q, key_file = %q }, https { verify_incoming = true } }`,
			pki.ca, pki.serverCert, pki.serverKey),
	))
	_ = s
	ctx := testutil.Context(t, time.Minute)
	base := "consul+https://" + httpsAddr + "?namespace=" + testutil.Unique("tls")
	full := base + "&ca=" + url.QueryEscape(pki.ca) + "&cert=" + url.QueryEscape(pki.clientCert) + "&key=" + url.QueryEscape(pki.clientKey)
	c, err := tooz.Open(ctx, full, "a", tooz.WithTimeout(testTimeout))
	testutil.Must(t, err, "open over TLS with a client certificate")
	g := testutil.Unique("g")
	testutil.Must(t, c.JoinGroupCreate(ctx, g, nil), "join over TLS")
	testutil.Must(t, c.Close(ctx), "close")
	for _, tc := range []struct{ url, want string }{
		{base + "&ca=" + url.QueryEscape(pki.ca), ""},     // no client certificate: the handshake fails
		{base, "certificate signed by unknown authority"}, // the system roots do not know the test CA
	} {
		_, err := tooz.Open(ctx, tc.url, "b", tooz.WithTimeout(testTimeout))
		if !errors.Is(err, tooz.ErrConnection) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("Open(%q): %v, want a connection failure (%q)", tc.url, err, tc.want)
		}
		t.Logf("refused: %v", err)
	}
}

type testPKI struct{ ca, serverCert, serverKey, clientCert, clientKey string }

// newTestPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into dir.
func newTestPKI(t testing.TB, dir string) testPKI {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tooz test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	var p testPKI
	p.ca = write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) (string, string) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			DNSNames:    []string{"localhost", "server.dc1.consul"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	p.serverCert, p.serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	return p
}

// TestMaxCapabilities joins and updates with the largest capabilities
// tooz accepts: they fit in one Consul transaction (whose request is
// limited to 512 KiB, the value base64-encoded).
func TestMaxCapabilities(t *testing.T) {
	s := testserver.StartConsul(t)
	h := newHarness(s, "")
	ctx := testutil.Context(t, 30*time.Second)
	a := open(t, h, "a")
	g := testutil.Unique("g")
	caps := make([]byte, tooz.MaxCapabilitiesLength)
	for i := range caps {
		caps[i] = byte(i * 7)
	}
	testutil.Must(t, a.JoinGroupCreate(ctx, g, caps), "join with the largest capabilities")
	got, err := a.MemberCapabilities(ctx, g, "a")
	if err != nil || string(got) != string(caps) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	caps[0]++
	testutil.Must(t, a.UpdateCapabilities(ctx, g, caps), "update with the largest capabilities")
	ms, err := a.MembersWithCapabilities(ctx, g)
	if err != nil || string(ms["a"]) != string(caps) {
		t.Fatalf("members: %d bytes, %v", len(ms["a"]), err)
	}
}
