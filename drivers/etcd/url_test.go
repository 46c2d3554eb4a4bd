// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

func TestInvalidURLs(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	for _, u := range []string{
		"etcd://127.0.0.1:1?dial_timeout=soon",
		"etcd://127.0.0.1:1?lock_ttl=0",
		"etcd://127.0.0.1:1?lock_ttl=-3s",
		"etcd://127.0.0.1:1?ca=/etc/ssl/certs/ca-certificates.crt",
		"etcd://127.0.0.1:1?cert=/a&key=/b",
		"etcd+https://127.0.0.1:1?cert=/a",
		"etcd+https://127.0.0.1:1?key=/b",
		"etcd+https://127.0.0.1:1?ca=/nonexistent/ca.pem",
		"etcd://127.0.0.1:1/some/path",
		"etcd://alice@127.0.0.1:1",
		"etcd://127.0.0.1:1?bogus=1",
		"etcd://127.0.0.1:1?timeout=0",
	} {
		start := time.Now()
		c, err := tooz.Open(ctx, u, "m")
		if err == nil {
			c.Close(ctx)
			t.Errorf("Open(%q) succeeded, want ErrInvalidURL", u)
			continue
		}
		if !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", u, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Open(%q) took %v: a bad option must be reported before any I/O", u, d)
		}
	}
}

func TestParseEndpoints(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want []string
	}{
		{"etcd://", []string{"http://localhost:2379"}},
		{"etcd://10.0.0.1", []string{"http://10.0.0.1:2379"}},
		{"etcd://10.0.0.2,etcd-3,10.0.0.1:2380", []string{"http://10.0.0.2:2379", "http://etcd-3:2379", "http://10.0.0.1:2380"}},
		{"etcd://[::1]", []string{"http://[::1]:2379"}},
		{"etcd://[::1]:4000", []string{"http://[::1]:4000"}},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		var hosts []string
		if u.Host != "" {
			hosts = strings.Split(u.Host, ",")
		}
		s, err := (&driver{}).parse(tooz.Config{URL: u, Hosts: hosts, Timeout: time.Second, Options: map[string]string{}})
		if err != nil {
			t.Fatalf("parse %q: %v", tc.url, err)
		}
		if !slices.Equal(s.endpoints, tc.want) {
			t.Errorf("endpoints of %q = %v, want %v", tc.url, s.endpoints, tc.want)
		}
	}
	u, _ := url.Parse("etcd+https://h")
	s, err := (&driver{tls: true}).parse(tooz.Config{URL: u, Hosts: []string{"h"}, Timeout: time.Second, Options: map[string]string{}})
	if err != nil || s.endpoints[0] != "https://h:2379" || s.tls == nil {
		t.Fatalf("etcd+https: %v, %+v", err, s)
	}
}

// TestUnreachable: a cluster that does not answer within dial_timeout is
// ErrConnection, and the password never shows.
func TestUnreachable(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	for _, u := range []string{
		"etcd://" + testutil.ClosedPort(t) + "?dial_timeout=300ms",
		"etcd://alice:s3cr3t-pw@" + testutil.ClosedPort(t) + "?dial_timeout=300ms",
	} {
		start := time.Now()
		_, err := tooz.Open(ctx, u, "m")
		if !errors.Is(err, tooz.ErrConnection) {
			t.Fatalf("Open(unreachable) = %v, want ErrConnection", err)
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Fatalf("the error shows the password: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Open took %v with dial_timeout=300ms", d)
		}
	}
}

// TestAuth runs against an etcd with authentication on: the right password
// works, a wrong one or none is ErrAuth, and the password never shows.
func TestAuth(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	raw := rawClient(t, s)
	if _, err := raw.RoleAdd(ctx, "root"); err != nil {
		t.Fatalf("role add: %v", err)
	}
	if _, err := raw.UserAdd(ctx, "root", "r00t-pw"); err != nil {
		t.Fatalf("user add: %v", err)
	}
	if _, err := raw.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatalf("grant: %v", err)
	}
	if _, err := raw.AuthEnable(ctx); err != nil {
		t.Fatalf("auth enable: %v", err)
	}
	c := open(t, "etcd://root:r00t-pw@"+s.Addr, "m")
	g := testutil.Unique("g")
	testutil.Must(t, c.JoinGroupCreate(ctx, g, nil), "join with credentials")
	for _, u := range []string{"etcd://root:wr0ng-pw@" + s.Addr, "etcd://" + s.Addr} {
		_, err := tooz.Open(ctx, u, "m", tooz.WithTimeout(testTimeout))
		if !errors.Is(err, tooz.ErrAuth) {
			t.Fatalf("Open(%s) = %v, want ErrAuth", strings.ReplaceAll(u, "wr0ng-pw", "xxx"), err)
		}
		if strings.Contains(err.Error(), "wr0ng-pw") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
}

// TestTLS reaches etcd through a TLS terminator that demands a client
// certificate: etcd+https with ca, cert and key works; without the client
// certificate, or trusting another CA, Open fails with ErrConnection.
func TestTLS(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	dir := t.TempDir()
	ca, caKey := newCA(t)
	otherCA, _ := newCA(t)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	writePEM(t, filepath.Join(dir, "other-ca.pem"), "CERTIFICATE", otherCA.Raw)
	srvCert := issue(t, ca, caKey, false)
	cliCert := issue(t, ca, caKey, true)
	writePEM(t, filepath.Join(dir, "client.pem"), "CERTIFICATE", cliCert.Certificate[0])
	keyDER, err := x509.MarshalECPrivateKey(cliCert.PrivateKey.(*ecdsa.PrivateKey))
	testutil.Must(t, err, "marshal key")
	writePEM(t, filepath.Join(dir, "client-key.pem"), "EC PRIVATE KEY", keyDER)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	addr := tlsProxy(t, s.Addr, &tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS12,
	})
	q := "?ca=" + url.QueryEscape(filepath.Join(dir, "ca.pem")) +
		"&cert=" + url.QueryEscape(filepath.Join(dir, "client.pem")) +
		"&key=" + url.QueryEscape(filepath.Join(dir, "client-key.pem"))
	c := open(t, "etcd+https://"+addr+q+"&namespace="+testutil.Unique("tls"), "m")
	g := testutil.Unique("g")
	testutil.Must(t, c.JoinGroupCreate(ctx, g, []byte("over tls")), "join over TLS")
	info, err := c.MemberInfo(ctx, g, "m")
	testutil.Must(t, err, "member info over TLS")
	if string(info.Capabilities) != "over tls" {
		t.Fatalf("capabilities = %q", info.Capabilities)
	}
	for _, u := range []string{
		"etcd+https://" + addr + "?dial_timeout=1s&ca=" + url.QueryEscape(filepath.Join(dir, "ca.pem")),
		"etcd+https://" + addr + strings.Replace(q, "ca.pem", "other-ca.pem", 1) + "&dial_timeout=1s",
	} {
		if _, err := tooz.Open(ctx, u, "m"); !errors.Is(err, tooz.ErrConnection) {
			t.Fatalf("Open(%s) = %v, want ErrConnection", u, err)
		}
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	testutil.Must(t, err, "ca key")
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tooz test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	testutil.Must(t, err, "ca cert")
	cert, err := x509.ParseCertificate(der)
	testutil.Must(t, err, "parse ca")
	return cert, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, client bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	testutil.Must(t, err, "key")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "tooz test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	testutil.Must(t, err, "issue")
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	testutil.Must(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600), "write "+path)
}

// tlsProxy terminates TLS on a loopback port and forwards the plain bytes
// (HTTP/2 with prior knowledge, which etcd's client port accepts) to target.
func tlsProxy(t *testing.T, target string, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	testutil.Must(t, err, "listen")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			track(in)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer in.Close()
				if err := in.(*tls.Conn).HandshakeContext(context.Background()); err != nil {
					return
				}
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				track(out)
				defer out.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
				go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return l.Addr().String()
}

// TestSeveralEndpoints: with the first endpoint dead, the client uses the next.
func TestSeveralEndpoints(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	c := open(t, "etcd://"+testutil.ClosedPort(t)+","+s.Addr+"?namespace="+testutil.Unique("ns"), "m")
	g := testutil.Unique("g")
	testutil.Must(t, c.JoinGroupCreate(ctx, g, nil), "join through the live endpoint")
	ms, err := c.Members(ctx, g)
	if err != nil || !slices.Equal(ms, []string{"m"}) {
		t.Fatalf("members = %v, %v", ms, err)
	}
}
