// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// Unique returns prefix followed by 12 random hex digits: a name (group,
// namespace, lock) no other test uses.
func Unique(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Must fails t with what and err unless err is nil.
func Must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Context returns a context that ends when the test does or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Open opens a coordinator on url as member, failing t unless that is done
// within d; the coordinator is closed (within 10s, the error ignored) when
// the test ends.
func Open(t testing.TB, d time.Duration, url, member string, opts ...tooz.Option) *tooz.Coordinator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := tooz.Open(ctx, url, member, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", member, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// WaitClosed waits up to d for ch to be closed, and fails t with what
// otherwise.
func WaitClosed(t testing.TB, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("waited %v for %s", d, what)
	}
}

// ClosedPort returns a loopback address nothing listens on.
func ClosedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
