// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// tlsQuery is the zookeeper+tls query that trusts p's CA and presents its
// client certificate.
func tlsQuery(p testutil.PKI) string {
	return "ca=" + url.QueryEscape(p.CA) + "&cert=" + url.QueryEscape(p.ClientCert) + "&key=" + url.QueryEscape(p.ClientKey)
}

// startTLS starts a ZooKeeper that serves clients only over TLS (Netty,
// secureClientPort) and requires a client certificate signed by p's CA.
func startTLS(t *testing.T, p testutil.PKI) *testserver.Server {
	t.Helper()
	return testserver.StartZooKeeperTLS(t, testserver.ZooKeeperTLS{
		CA: p.CA, Cert: p.ServerCert, Key: p.ServerKey,
		ClientCert: p.ClientCert, ClientKey: p.ClientKey,
	}, testserver.WithNoFsync())
}

// TestTLSConformance runs the whole suite over zookeeper+tls against a
// real ZooKeeper's secure client port, with a private CA and client
// certificates.
func TestTLSConformance(t *testing.T) {
	p := testutil.NewPKI(t)
	srv := startTLS(t, p)
	conformance.Run(t, harness{conformance.URLHarness{
		URL:             "zookeeper+tls://" + srv.Addr + "/conformance?" + tlsQuery(p),
		LivenessTimeout: 2 * time.Second,
	}})
}

// TestTLSRejected: a server certificate from another CA, the system roots,
// a missing client certificate and a plain connection to the TLS port are
// all ErrConnection, and the digest password never shows in the error.
// The right files (and credentials) work, and the session keeps its
// znodes readable only by that identity.
func TestTLSRejected(t *testing.T) {
	p := testutil.NewPKI(t)
	srv := startTLS(t, p)
	other := testutil.NewPKI(t)
	const pass = "zk-tls-secret-57"
	base := "zookeeper+tls://app:" + pass + "@" + srv.Addr + "/tlsbad?timeout=2s"
	cases := []struct{ name, url string }{
		{"wrong CA", base + "&" + tlsQuery(other)},
		{"system roots", base},
		{"no client certificate", base + "&ca=" + url.QueryEscape(p.CA)},
		{"plain client on the TLS port", "zookeeper://app:" + pass + "@" + srv.Addr + "/tlsbad?timeout=2s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := tooz.Open(ctx, tc.url, "m")
			if err == nil {
				_ = c.Close(ctx)
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tooz.ErrConnection) {
				t.Fatalf("Open = %v, want ErrConnection", err)
			}
			t.Logf("Open: %v", err)
			testutil.CheckNoSecret(t, []string{err.Error()}, pass)
		})
	}
	ctx := testutil.Context(t, 30*time.Second)
	a := open(t, base+"&"+tlsQuery(p), "a")
	g := unique("g")
	if err := a.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	b := open(t, base+"&"+tlsQuery(p), "b")
	if ms, err := b.Members(ctx, g); err != nil || !slices.Equal(ms, []string{"a"}) {
		t.Fatalf("Members over TLS = %q, %v", ms, err)
	}
}

// TestTLSOptions: the TLS files are checked before any I/O, and the plain
// scheme takes no TLS option.
func TestTLSOptions(t *testing.T) {
	p := testutil.NewPKI(t)
	ctx := testutil.Context(t, 10*time.Second)
	addr := testutil.ClosedPort(t)
	for _, u := range []string{
		"zookeeper+tls://" + addr + "?cert=" + url.QueryEscape(p.ClientCert),
		"zookeeper+tls://" + addr + "?ca=" + url.QueryEscape(p.ClientKey),
		"zookeeper+tls://" + addr + "?ca=/nonexistent/ca.pem",
		"zookeeper://" + addr + "?ca=" + url.QueryEscape(p.CA),
	} {
		c, err := tooz.Open(ctx, u, "m")
		if err == nil {
			_ = c.Close(ctx)
		}
		if !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("%s: %v, want ErrInvalidURL", u, err)
		}
	}
}
