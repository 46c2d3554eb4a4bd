// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"
	"github.com/toozgo/tooz"
)

// Open opens a coordinator for memberID on the application's own Consul
// API client (its address, TLS, ACL token, datacenter and HTTP client), as
// gocloud.dev's openers take a configured client. The client stays the
// application's: closing the coordinator does not close its connections,
// and one client may serve several coordinators (each has its own session).
//
// rawURL carries the options only, e.g. "consul://?namespace=billing&lock_delay=0";
// "" means "consul://". Its host is ignored, and the options the client
// already settles (token, datacenter, ca, cert, key) are refused.
func Open(ctx context.Context, client *api.Client, rawURL, memberID string, opts ...tooz.Option) (*tooz.Coordinator, error) {
	if client == nil {
		return nil, fmt.Errorf("tooz/consul: %w: nil client", tooz.ErrInvalidURL)
	}
	if rawURL == "" {
		rawURL = "consul://"
	}
	return tooz.OpenDriver(ctx, clientDriver{client: client}, rawURL, memberID, opts...)
}

// clientDriver opens coordinators on one application-owned client.
type clientDriver struct {
	client *api.Client
}

// Options implements tooz.Driver.
func (d clientDriver) Options() []string { return []string{optLockDelay, optConsistency} }

// Open implements tooz.Driver.
func (d clientDriver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	s, err := parseSettings(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return start(ctx, d.client, nil, cfg, s, "")
}
