// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

// A hook gets only the events that happen after it is registered, even
// when earlier ones are still waiting to be delivered.
func TestHooksSeeOnlyLaterEvents(t *testing.T) {
	ctx := context.Background()
	url := fmt.Sprintf("memory://hooks-%d", time.Now().UnixNano())
	w, err := tooz.Open(ctx, url, "watcher", tooz.WithExplicitWatchers())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	a, err := tooz.Open(ctx, url, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	var early, late []string
	w1, err := w.WatchJoinGroup(ctx, "g", func(e tooz.MemberJoined) { early = append(early, e.Member) })
	if err != nil {
		t.Fatal(err)
	}
	defer w1.Stop()
	// The memory driver reports the join before JoinGroup returns, so
	// the event is queued (not yet delivered) when the second hook comes.
	if err := a.JoinGroupCreate(ctx, "g", nil); err != nil {
		t.Fatal(err)
	}
	w2, err := w.WatchJoinGroup(ctx, "g", func(e tooz.MemberJoined) { late = append(late, e.Member) })
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	if n, err := w.RunWatchers(ctx); err != nil || n != 1 {
		t.Fatalf("RunWatchers = %d, %v; want 1 call", n, err)
	}
	if len(early) != 1 || len(late) != 0 {
		t.Fatalf("early hook got %q, late hook got %q; want [a] and nothing", early, late)
	}
}
