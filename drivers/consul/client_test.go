// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// openOn opens coordinators on client, the application's own.
func openOn(client *api.Client) testutil.URLOpenFunc {
	return func(ctx context.Context, url, member string, opts ...tooz.Option) (*tooz.Coordinator, error) {
		return Open(ctx, client, url, member, opts...)
	}
}

// clientHarness opens every coordinator of the suite on one shared,
// application-owned client; it keeps the URL harness's expiry bound and
// state-watch declarations.
type clientHarness struct {
	testutil.FuncHarness
	harness
}

func (h clientHarness) Open(ctx context.Context, t *testing.T, member string, opts ...tooz.Option) (*tooz.Coordinator, error) {
	return h.FuncHarness.Open(ctx, t, member, opts...)
}

func (h clientHarness) Timeout() time.Duration { return h.FuncHarness.Timeout() }

func (h clientHarness) Crash(t *testing.T, c *tooz.Coordinator) error {
	return h.FuncHarness.Crash(t, c)
}

// TestConformanceOwnClient runs the suite with every coordinator on one
// client the application made.
func TestConformanceOwnClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the suite runs on URL-opened coordinators only")
	}
	s := testserver.StartConsul(t)
	conformance.Run(t, clientHarness{
		FuncHarness: testutil.FuncHarness{OpenURL: openOn(rawClient(t, s)),
			URL: "consul://?namespace=" + testutil.Unique("own"), LivenessTimeout: testTimeout},
		harness: newHarness(s, ""),
	})
}

// TestOwnClientStaysOpen: closing (or abandoning) a coordinator opened on
// the application's client leaves that client working, and the options the
// client already settles are refused.
func TestOwnClientStaysOpen(t *testing.T) {
	s := testserver.StartConsul(t)
	client := rawClient(t, s)
	testutil.CheckOwnClient(t, openOn(client), "consul://?namespace="+testutil.Unique("own"),
		func(context.Context) error { _, err := client.Status().Leader(); return err },
		"consul://?token=secret", "consul://?datacenter=dc2", "consul://?nope=1")
	if _, err := Open(t.Context(), nil, "", "c"); !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open with a nil client = %v, want ErrInvalidURL", err)
	}
}
