// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"testing"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

// TestKeyWatchExplicit: with WithExplicitWatchers, key events wait for
// RunWatchers and are delivered on its goroutine; Stop ends deliveries and
// Close ends the watch.
func TestKeyWatchExplicit(t *testing.T) {
	ctx := context.Background()
	url := "memory://" + t.Name()
	c, err := tooz.Open(ctx, url, "w", tooz.WithExplicitWatchers())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var got []tooz.KeyEvent
	w, err := c.KV().Watch(ctx, "p/", func(e tooz.KeyEvent) { got = append(got, e) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KV().Put(ctx, "p/a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("%d events delivered before RunWatchers", len(got))
	}
	n, err := c.RunWatchers(ctx)
	if err != nil || n != 2 || got[0].Kind != tooz.KeysListed || got[1].Kind != tooz.KeyPut || got[1].Key != "p/a" {
		t.Fatalf("RunWatchers = %d, %v; events %+v", n, err, got)
	}
	w.Stop()
	if _, err := c.KV().Put(ctx, "p/b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.RunWatchers(ctx); n != 0 {
		t.Fatalf("RunWatchers after Stop made %d calls", n)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KV().Watch(ctx, "p/", func(tooz.KeyEvent) {}); !errors.Is(err, tooz.ErrClosed) {
		t.Fatalf("Watch after Close: %v, want ErrClosed", err)
	}
}
