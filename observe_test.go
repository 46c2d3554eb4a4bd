// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu    sync.Mutex
	ops   []string // "name kind target result"
	ends  []string // "kind target cause"
	beats int
}

func (r *recorder) Begin(ctx context.Context, op tooz.Operation) (context.Context, func(error)) {
	return ctx, func(err error) {
		res := "ok"
		switch {
		case errors.Is(err, tooz.ErrNotAcquired):
			res = "not_acquired"
		case err != nil:
			res = "error"
		}
		r.mu.Lock()
		r.ops = append(r.ops, fmt.Sprintf("%s %s %s %s", op.Name, op.Kind, op.Target, res))
		r.mu.Unlock()
	}
}

func (r *recorder) HoldingEnded(e tooz.HoldingEnd) {
	r.mu.Lock()
	r.ends = append(r.ends, fmt.Sprintf("%s %s %s", e.Kind, e.Target, e.Cause))
	r.mu.Unlock()
}

func (r *recorder) Beat(tooz.BeatInfo) {
	r.mu.Lock()
	r.beats++
	r.mu.Unlock()
}
func (*recorder) SessionLost(string)                      {}
func (*recorder) LeaderChanged(string, string, string)    {}
func (*recorder) Delivered(string, string, time.Duration) {}

// TestObserverSeesOperations: acquisitions, tries, campaigns and joins
// are begun and ended once each with their result, and every holding's end
// is reported with its cause.
func TestObserverSeesOperations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := fmt.Sprintf("memory://observer-%d", time.Now().UnixNano())
	ra, rb := &recorder{}, &recorder{}
	a, err := tooz.Open(ctx, url, "a", tooz.WithObserver(ra))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tooz.Open(ctx, url, "b", tooz.WithObserver(rb))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close(ctx) }()
	l := a.Lock("l")
	if err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Lock("l").TryAcquire(ctx); ok || err != nil {
		t.Fatalf("TryAcquire of a held lock = %v, %v", ok, err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Campaign(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := a.JoinGroupCreate(ctx, "g", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(ctx); err != nil { // ends the leadership
		t.Fatal(err)
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for _, want := range []string{"acquire lock l ok", "campaign election g ok", "join group g ok"} {
		if !slices.Contains(ra.ops, want) {
			t.Errorf("a's operations %q lack %q", ra.ops, want)
		}
	}
	if want := []string{"lock l released", "election g closed"}; !slices.Equal(ra.ends, want) {
		t.Errorf("a's holding ends = %q, want %q", ra.ends, want)
	}
	if ra.beats == 0 {
		t.Error("the explicit heartbeat was not reported")
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if want := []string{"acquire lock l not_acquired"}; !slices.Equal(rb.ops, want) {
		t.Errorf("b's operations = %q, want %q", rb.ops, want)
	}

	// A crash (Abandon) ends what was held as a lost session.
	rc := &recorder{}
	cc, err := tooz.Open(ctx, url, "c", tooz.WithObserver(rc))
	if err != nil {
		t.Fatal(err)
	}
	if err := cc.Lock("m").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	cc.Abandon()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if want := []string{"lock m session_lost"}; !slices.Equal(rc.ends, want) {
		t.Errorf("c's holding ends after Abandon = %q, want %q", rc.ends, want)
	}
}
