// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// ownClient is the client an application would make for tooz.
func ownClient(t testing.TB, s *testserver.Server) *goredis.Client {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1, ContextTimeoutEnabled: true, DisableIdentity: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// openOn opens coordinators on rdb, the application's own client.
func openOn(rdb goredis.UniversalClient) testutil.URLOpenFunc {
	return func(ctx context.Context, url, member string, opts ...tooz.Option) (*tooz.Coordinator, error) {
		return Open(ctx, rdb, url, member, opts...)
	}
}

// TestConformanceOwnClient runs the suite with every coordinator on one
// client the application made.
func TestConformanceOwnClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the suite runs on URL-opened coordinators only")
	}
	s := testserver.StartRedis(t)
	conformance.Run(t, testutil.FuncHarness{OpenURL: openOn(ownClient(t, s)),
		URL: "redis://?namespace=" + testutil.Unique("own"), LivenessTimeout: testTimeout})
}

// TestOwnClientStaysOpen: closing (or abandoning) a coordinator opened on
// the application's client leaves that client working; a client that
// retries commands, or ignores context deadlines, and connection options
// are refused.
func TestOwnClientStaysOpen(t *testing.T) {
	s := testserver.StartRedis(t)
	rdb := ownClient(t, s)
	testutil.CheckOwnClient(t, openOn(rdb), "redis://?namespace="+testutil.Unique("own"),
		func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		"redis://?pool_size=3", "redis://?master=m", "redis://?nope=1")
	ctx := t.Context()
	retrying := goredis.NewClient(&goredis.Options{Addr: s.Addr, ContextTimeoutEnabled: true})
	defer retrying.Close()
	if _, err := Open(ctx, retrying, "", "c"); !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open with a retrying client = %v, want ErrInvalidURL", err)
	}
	deaf := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1})
	defer deaf.Close()
	if _, err := Open(ctx, deaf, "", "c"); !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open with a client that ignores context deadlines = %v, want ErrInvalidURL", err)
	}
	if _, err := Open(ctx, nil, "", "c"); !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open with a nil client = %v, want ErrInvalidURL", err)
	}
}
