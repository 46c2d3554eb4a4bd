// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// tlsQuery is the rediss query that trusts p's CA and presents its client
// certificate.
func tlsQuery(p testutil.PKI) string {
	return "ca=" + url.QueryEscape(p.CA) + "&cert=" + url.QueryEscape(p.ClientCert) + "&key=" + url.QueryEscape(p.ClientKey)
}

// startTLS starts a redis-server that serves only TLS and requires a client
// certificate signed by p's CA.
func startTLS(t *testing.T, p testutil.PKI, opts ...testserver.Option) *testserver.Server {
	t.Helper()
	return testserver.StartRedisTLS(t, testserver.RedisTLS{
		CA: p.CA, Cert: p.ServerCert, Key: p.ServerKey,
		ClientCert: p.ClientCert, ClientKey: p.ClientKey,
	}, opts...)
}

// TestTLSConformance runs the whole suite over rediss with a private CA and
// client-certificate authentication.
func TestTLSConformance(t *testing.T) {
	p := testutil.NewPKI(t)
	s := startTLS(t, p)
	conformance.Run(t, conformance.URLHarness{
		URL:             "rediss://" + s.Addr + "/0?namespace=" + testutil.Unique("tls") + "&" + tlsQuery(p),
		LivenessTimeout: testTimeout,
	})
}

// TestTLSRejected: a server certificate from another CA, a missing client
// certificate and a wrong password are typed errors that keep the password
// out of the message.
func TestTLSRejected(t *testing.T) {
	p := testutil.NewPKI(t)
	const pass = "tls-secret-pass-31"
	s := startTLS(t, p, testserver.WithArgs("--requirepass", pass))
	other := testutil.NewPKI(t)
	base := "rediss://default:" + pass + "@" + s.Addr + "/0?dial_timeout=2s&namespace=" + testutil.Unique("tlsbad")
	cases := []struct {
		name, url string
		want      error
	}{
		{"wrong CA", "rediss://default:" + pass + "@" + s.Addr + "/0?dial_timeout=2s&" + tlsQuery(other), tooz.ErrConnection},
		{"system roots", base, tooz.ErrConnection},
		{"no client cert", base + "&ca=" + url.QueryEscape(p.CA), tooz.ErrConnection},
		{"wrong password", "rediss://default:wrong-" + pass + "@" + s.Addr + "/0?dial_timeout=2s&" + tlsQuery(p), tooz.ErrAuth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := tooz.Open(ctx, tc.url, "m")
			if err == nil {
				_ = c.Close(ctx)
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			testutil.CheckNoSecret(t, []string{err.Error()}, pass)
		})
	}
	// The right CA, certificate and password work.
	c := testutil.Open(t, 10*time.Second, base+"&"+tlsQuery(p), "m")
	ctx := testutil.Context(t, 10*time.Second)
	g := testutil.Unique("g")
	testutil.Must(t, c.CreateGroup(ctx, g), "create group")
	testutil.Must(t, c.JoinGroup(ctx, g, nil), "join")
}

// TestTLSOptions: ca, cert and key are checked before any I/O, and only
// rediss accepts them.
func TestTLSOptions(t *testing.T) {
	p := testutil.NewPKI(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	testutil.Must(t, os.WriteFile(notPEM, []byte("hello"), 0o600), "write")
	addr := testutil.ClosedPort(t) // nothing listens: an accepted URL would be ErrConnection
	for _, q := range []string{
		"ca=" + filepath.Join(dir, "missing.pem"),
		"ca=" + notPEM,
		"cert=" + p.ClientCert,
		"key=" + p.ClientKey,
		"cert=" + p.ClientCert + "&key=" + notPEM,
		"cert=" + filepath.Join(dir, "missing.pem") + "&key=" + p.ClientKey,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := tooz.Open(ctx, "rediss://"+addr+"/0?"+q, "m")
		cancel()
		if !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("rediss ?%s: Open = %v, want ErrInvalidURL", q, err)
		}
	}
	for _, q := range []string{"ca=" + p.CA, "cert=" + p.ClientCert + "&key=" + p.ClientKey} {
		for _, scheme := range []string{"redis", "redis+sentinel"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := tooz.Open(ctx, scheme+"://"+addr+"/0?master=m&"+q, "m")
			cancel()
			if !errors.Is(err, tooz.ErrInvalidURL) {
				t.Errorf("%s ?%s: Open = %v, want ErrInvalidURL", scheme, q, err)
			}
		}
	}
	// Good files on an unreachable server: accepted, so the error is the connection.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := tooz.Open(ctx, "rediss://"+addr+"/0?dial_timeout=1s&"+tlsQuery(p), "m")
	if !errors.Is(err, tooz.ErrConnection) {
		t.Errorf("good files, closed port: Open = %v, want ErrConnection", err)
	}
}
