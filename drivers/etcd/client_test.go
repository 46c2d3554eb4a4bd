// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"errors"
	"testing"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// openOn opens coordinators on cli, the application's own client.
func openOn(cli *clientv3.Client) testutil.URLOpenFunc {
	return func(ctx context.Context, url, member string, opts ...tooz.Option) (*tooz.Coordinator, error) {
		return Open(ctx, cli, url, member, opts...)
	}
}

// TestConformanceOwnClient runs the suite with every coordinator on one
// client the application made: the same semantics as with a URL, each
// coordinator with its own lease.
func TestConformanceOwnClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the suite runs on URL-opened coordinators only")
	}
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	conformance.Run(t, testutil.FuncHarness{OpenURL: openOn(rawClient(t, s)),
		URL: "etcd://?namespace=" + testutil.Unique("own"), LivenessTimeout: testTimeout})
}

// TestOwnClientStaysOpen: closing (or abandoning) a coordinator opened on
// the application's client leaves that client working, and options meant
// for a connection tooz would make are refused.
func TestOwnClientStaysOpen(t *testing.T) {
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	cli := rawClient(t, s)
	testutil.CheckOwnClient(t, openOn(cli), "etcd://?namespace="+testutil.Unique("own"),
		func(ctx context.Context) error {
			_, err := cli.Put(ctx, testutil.Unique("still-open"), "1")
			return err
		},
		"etcd://?dial_timeout=1s", "etcd://?ca=/x", "etcd://?nope=1")
	if _, err := Open(t.Context(), nil, "", "c"); !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open with a nil client = %v, want ErrInvalidURL", err)
	}
}
