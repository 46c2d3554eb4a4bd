// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"fmt"

	"github.com/toozgo/tooz"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Open opens a coordinator for memberID on the application's own etcd
// client — its endpoints, TLS, credentials, logger and dial options — as
// gocloud.dev's openers take a configured client. The client stays the
// application's: closing the coordinator does not close it, and one client
// may serve several coordinators (each has its own lease).
//
// rawURL carries the options only, e.g. "etcd://?namespace=billing&lock_ttl=30s";
// "" means "etcd://". Its hosts are ignored, and the connection options
// (ca, cert, key, dial_timeout) are refused: the client is already set up.
func Open(ctx context.Context, cli *clientv3.Client, rawURL, memberID string, opts ...tooz.Option) (*tooz.Coordinator, error) {
	if cli == nil {
		return nil, fmt.Errorf("tooz/etcd: %w: nil client", tooz.ErrInvalidURL)
	}
	if rawURL == "" {
		rawURL = "etcd://"
	}
	return tooz.OpenDriver(ctx, clientDriver{cli: cli}, rawURL, memberID, opts...)
}

// clientDriver opens coordinators on one application-owned client.
type clientDriver struct {
	cli *clientv3.Client
}

// Options implements tooz.Driver.
func (d clientDriver) Options() []string { return []string{optLockTTL} }

// Open implements tooz.Driver.
func (d clientDriver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	s, err := (&driver{}).parse(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.endpoints = d.cli.Endpoints()
	c := newConn(d.cli, cfg, s)
	c.borrowed = true
	return start(ctx, c, s)
}
