// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
)

// URLOpenFunc opens a coordinator for member on the application's own
// client with the options of url.
type URLOpenFunc func(ctx context.Context, url, member string, opts ...tooz.Option) (*tooz.Coordinator, error)

// FuncHarness is a conformance.Harness that opens every coordinator with
// OpenURL on URL, with the liveness timeout: for drivers opened on an
// application's own client rather than from a URL alone. It crashes with
// Abandon.
type FuncHarness struct {
	OpenURL         URLOpenFunc
	URL             string
	LivenessTimeout time.Duration
}

// Open implements conformance.Harness.
func (h FuncHarness) Open(ctx context.Context, t *testing.T, member string, opts ...tooz.Option) (*tooz.Coordinator, error) {
	return h.OpenURL(ctx, h.URL, member, append([]tooz.Option{tooz.WithTimeout(h.LivenessTimeout)}, opts...)...)
}

// Timeout implements conformance.Harness.
func (h FuncHarness) Timeout() time.Duration { return h.LivenessTimeout }

// Crash implements conformance.Harness.
func (h FuncHarness) Crash(t *testing.T, c *tooz.Coordinator) error { return conformance.Abandon(t, c) }

// CheckOwnClient checks a driver's Open on an application's own client,
// which open wraps: two coordinators on the one client (with url's
// options) exclude each other, Close frees a lock at once, and neither
// Close nor Abandon stops the client (clientWorks still succeeds); each of
// badURLs is refused with an error wrapping tooz.ErrInvalidURL.
func CheckOwnClient(t *testing.T, open URLOpenFunc, url string, clientWorks func(context.Context) error, badURLs ...string) {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	a, err := open(ctx, url, "a")
	Must(t, err, "open a")
	b, err := open(ctx, url, "b")
	Must(t, err, "open b")
	Must(t, a.Lock("x").Acquire(ctx), "a acquires")
	if ok, err := b.Lock("x").TryAcquire(ctx); err != nil || ok {
		t.Fatalf("b took a lock a holds on the same client: %v %v", ok, err)
	}
	Must(t, a.Close(ctx), "close a")
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	Must(t, b.Lock("x").Acquire(tctx), "b acquires the lock a's Close freed")
	Must(t, b.Abandon(), "abandon b")
	Must(t, clientWorks(ctx), "the application's client after its coordinators closed")
	for _, bad := range badURLs {
		if _, err := open(ctx, bad, "c"); !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want an error wrapping ErrInvalidURL", bad, err)
		}
	}
}
