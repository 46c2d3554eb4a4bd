// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package driverkit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestScopeEndEndsEveryHold(t *testing.T) {
	s := NewScope(context.Background())
	a, b := s.Hold(), s.Hold()
	if a.Ended() || closed(a.Lost()) {
		t.Fatal("a new hold has ended")
	}
	if !a.End() {
		t.Fatal("End of a live hold reported it had ended already")
	}
	if a.End() {
		t.Fatal("a second End reported the hold live")
	}
	if b.Ended() {
		t.Fatal("ending one hold ended another")
	}
	s.End()
	if !b.Ended() || !closed(b.Lost()) || !s.Ended() || !closed(s.Done()) {
		t.Fatal("the scope's end did not end its hold")
	}
	if b.End() {
		t.Fatal("End after the scope ended reported the hold live")
	}
	if c := s.Hold(); !c.Ended() {
		t.Fatal("a hold taken in an ended scope is live")
	}
}

func TestScopeEndsWithParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	h := NewScope(parent).Hold()
	cancel()
	select {
	case <-h.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("the parent's end did not end the scope's hold")
	}
}

func TestHoldEndReportsLiveToOneCaller(t *testing.T) {
	for range 100 {
		h := NewHold()
		var wg sync.WaitGroup
		var mu sync.Mutex
		live := 0
		for range 4 {
			wg.Go(func() {
				if h.End() {
					mu.Lock()
					live++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if live != 1 {
			t.Fatalf("%d concurrent Ends reported the hold live; want 1", live)
		}
	}
}

func TestOnLost(t *testing.T) {
	s := NewScope(context.Background())
	h := s.Hold()
	ran := make(chan struct{})
	h.OnLost(func() { close(ran) })
	stopped := s.Hold()
	stop := stopped.OnLost(func() { t.Error("a stopped OnLost ran") })
	if !stop() {
		t.Fatal("stop of a pending OnLost reported it had run")
	}
	select {
	case <-ran:
		t.Fatal("OnLost ran before the hold ended")
	default:
	}
	s.End()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("OnLost did not run after the scope ended")
	}
	if h.Context().Err() == nil {
		t.Fatal("the hold's context is live after its end")
	}
}

func TestHoldContext(t *testing.T) {
	h := NewHold()
	ctx := h.Context()
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	if ctx.Err() != nil || child.Err() != nil {
		t.Fatal("a live hold's context has ended")
	}
	h.End()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("the hold's context after End: %v; want Canceled", ctx.Err())
	}
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a context derived from the hold's did not end with it")
	}
}
