// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/tlsfiles"
)

func init() {
	tooz.Register("zookeeper+tls", tlsDriver{})
}

// The TLS options of the zookeeper+tls scheme.
const (
	optCA   = "ca"
	optCert = "cert"
	optKey  = "key"
)

// tlsDriver opens ZooKeeper coordinators over TLS: the "zookeeper+tls"
// scheme, the same URL as "zookeeper" plus the options ca (PEM file of the
// CA to trust instead of the system roots), cert and key (PEM client
// certificate and key, for a server with ssl.clientAuth=need). The hosts
// are the servers' secureClientPort (there is no conventional port: give
// it; it defaults to 2181 like the plain scheme).
type tlsDriver struct{}

// Options implements tooz.Driver.
func (tlsDriver) Options() []string { return []string{optCA, optCert, optKey} }

// Open implements tooz.Driver: it loads the TLS files, then opens the
// session like the plain scheme, every connection beginning with a TLS
// handshake that verifies the server's certificate for the host dialled.
func (tlsDriver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	tc, err := tlsfiles.Load(cfg.Options[optCA], cfg.Options[optCert], cfg.Options[optKey])
	if err != nil {
		return nil, err
	}
	plain := cfg
	plain.Options = make(map[string]string, len(cfg.Options))
	for k, v := range cfg.Options {
		if k != optCA && k != optCert && k != optKey {
			plain.Options[k] = v
		}
	}
	return openConn(ctx, plain, tc)
}

// dialOne connects to addr within timeout, then, over TLS, completes the
// handshake within the same time: a server with the wrong certificate is a
// failed dial (counted towards "every host failed"), not a connection that
// breaks on its first write.
func (d *dialer) dialOne(network, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return dial(ctx, d.tls, network, addr)
}

// dial connects to addr, with a TLS handshake when tc is set (verifying
// the certificate for the host dialled unless tc names a server).
func dial(ctx context.Context, tc *tls.Config, network, addr string) (net.Conn, error) {
	if tc == nil {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	cfg := tc.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		cfg.ServerName = host
	}
	td := tls.Dialer{Config: cfg}
	nc, err := td.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return nc, nil
}
