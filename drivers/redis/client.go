// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
	"github.com/toozgo/tooz"
)

// Open opens a coordinator for memberID on the application's own go-redis
// client (a *redis.Client, a Sentinel failover client or a
// *redis.ClusterClient), as gocloud.dev's openers take a configured
// client. The client stays the application's: closing the coordinator does
// not close it, and one client may serve several coordinators.
//
// The driver's scripts change state, so a command must never be retried
// behind its back, and the caller's context deadlines must bound every
// command: the client must be made with MaxRetries: -1 and
// ContextTimeoutEnabled: true, or Open fails with an error wrapping
// tooz.ErrInvalidURL that says which.
//
// rawURL carries the options only, e.g. "redis://?namespace=billing&lock_ttl=5s";
// "" means "redis://". Its hosts and path are ignored, and the connection
// options (pool_size, dial_timeout, read_timeout, master, ca, cert, key)
// are refused: the client is already set up.
func Open(ctx context.Context, rdb goredis.UniversalClient, rawURL, memberID string, opts ...tooz.Option) (*tooz.Coordinator, error) {
	if rdb == nil {
		return nil, fmt.Errorf("tooz/redis: %w: nil client", tooz.ErrInvalidURL)
	}
	var retries int
	var ctxTimeouts bool
	switch c := rdb.(type) {
	case *goredis.Client:
		retries, ctxTimeouts = c.Options().MaxRetries, c.Options().ContextTimeoutEnabled
	case *goredis.ClusterClient:
		retries, ctxTimeouts = c.Options().MaxRetries, c.Options().ContextTimeoutEnabled
	default:
		return nil, fmt.Errorf("tooz/redis: %w: client type %T (want *redis.Client or *redis.ClusterClient)", tooz.ErrInvalidURL, rdb)
	}
	// go-redis stores MaxRetries: -1 as 0 and its default as 3.
	if retries > 0 {
		return nil, fmt.Errorf("tooz/redis: %w: the client retries commands (MaxRetries %d): make it with MaxRetries: -1, since a retried script could run twice", tooz.ErrInvalidURL, retries)
	}
	if !ctxTimeouts {
		return nil, fmt.Errorf("tooz/redis: %w: make the client with ContextTimeoutEnabled: true, so that contexts bound its commands", tooz.ErrInvalidURL)
	}
	if rawURL == "" {
		rawURL = "redis://"
	}
	return tooz.OpenDriver(ctx, clientDriver{rdb: rdb}, rawURL, memberID, opts...)
}

// clientDriver opens coordinators on one application-owned client.
type clientDriver struct {
	rdb goredis.UniversalClient
}

// Options implements tooz.Driver.
func (d clientDriver) Options() []string { return []string{optLockTTL} }

// Open implements tooz.Driver.
func (d clientDriver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	s, err := driver{}.parse(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return start(ctx, d.rdb, cfg, s, true)
}
