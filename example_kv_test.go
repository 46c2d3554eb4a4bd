// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

// Keys with compare-and-swap and a prefix watch: a watcher gets the keys
// as listed, then every change; a writer that lost a race is told so
// instead of overwriting; an ephemeral key goes with its writer.
func ExampleKV() {
	ctx := context.Background()
	a, _ := tooz.Open(ctx, "memory://example-kv", "a")
	b, _ := tooz.Open(ctx, "memory://example-kv", "b")
	defer b.Close(ctx)

	rev, _ := a.KV().Put(ctx, "config/workers", []byte("8"))
	events := make(chan tooz.KeyEvent, 8)
	w, _ := b.KV().Watch(ctx, "config/", func(e tooz.KeyEvent) { events <- e })
	defer w.Stop()
	first := <-events
	fmt.Println(first.Kind, first.Keys[0].Key, string(first.Keys[0].Value))

	// Two writers start from the same revision: the second one loses.
	_, err := b.KV().Put(ctx, "config/workers", []byte("9"), tooz.IfRevision(rev))
	fmt.Println("b:", err)
	_, err = a.KV().Put(ctx, "config/workers", []byte("10"), tooz.IfRevision(rev))
	fmt.Println("a:", errors.Is(err, tooz.ErrConflict))
	e := <-events
	fmt.Println(e.Kind, e.Key, string(e.Value))

	// An ephemeral key lives as long as its writer.
	_, _ = a.KV().Put(ctx, "config/leader", []byte("a"), tooz.Ephemeral())
	e = <-events
	fmt.Println(e.Kind, e.Key, string(e.Value), e.Ephemeral)
	_ = a.Close(ctx)
	e = <-events
	fmt.Println(e.Kind, e.Key)
	// Output:
	// listed config/workers 8
	// b: <nil>
	// a: true
	// put config/workers 9
	// put config/leader a true
	// deleted config/leader
}
