// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// RedisTLS names the PEM files of a TLS Redis server (StartRedisTLS).
type RedisTLS struct {
	// CA signs the client certificates the server accepts and, for the
	// readiness probe, the server's own certificate.
	CA string
	// Cert and Key are the server's certificate and private key.
	Cert, Key string
	// ClientCert and ClientKey, when set, make the server require a client
	// certificate signed by CA (--tls-auth-clients yes); the probe uses them.
	ClientCert, ClientKey string
}

// StartRedisTLS starts a Redis server like StartRedis, except that it
// serves only TLS: the plain port is off and Addr is the TLS port. It waits
// until a PING over TLS answers (+PONG, or -NOAUTH when WithArgs set
// --requirepass). opts are those of StartRedis.
func StartRedisTLS(t testing.TB, files RedisTLS, opts ...Option) *Server {
	t.Helper()
	bin := findBinary(t, "TOOZ_REDIS_SERVER", "redis-server", "redis-server", "/usr/bin/redis-server")
	return start(t, &backend{
		name:   "redis",
		nports: 1,
		command: func(s *Server) (string, []string, error) {
			auth := "no"
			if files.ClientCert != "" {
				auth = "yes"
			}
			return bin, redisArgs(s,
				"--port", "0",
				"--tls-port", strconv.Itoa(s.Port),
				"--tls-cert-file", files.Cert,
				"--tls-key-file", files.Key,
				"--tls-ca-cert-file", files.CA,
				"--tls-auth-clients", auth,
			), nil
		},
		probe: func(ctx context.Context, s *Server) error { return probeRedisTLS(ctx, s, files) },
	}, opts)
}

// probeRedisTLS sends PING over TLS and expects +PONG, or -NOAUTH from a
// server started with a password.
func probeRedisTLS(ctx context.Context, s *Server, files RedisTLS) error {
	pemCA, err := os.ReadFile(files.CA)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return fmt.Errorf("%s holds no PEM certificate", files.CA)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if files.ClientCert != "" {
		pair, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
		if err != nil {
			return err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	// -NOAUTH: the server serves, and WithArgs gave it a password.
	if reply := string(buf[:n]); !strings.HasPrefix(reply, "+PONG") && !strings.HasPrefix(reply, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(reply))
	}
	return nil
}
