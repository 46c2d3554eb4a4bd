// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package driverkit

import (
	"context"
	"sync/atomic"
)

// Scope is a session's lifetime as the ownerships taken in it see it:
// each is a Hold, a child context of the scope, so that End ends every one
// of them at once, with no list to walk and no goroutine per ownership.
// A driver makes one Scope per backend session (a lease, a Consul or
// ZooKeeper session) and ends it when the session is lost or closed.
type Scope struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// NewScope returns a live scope, which also ends when parent does.
func NewScope(parent context.Context) *Scope {
	ctx, cancel := context.WithCancel(parent)
	return &Scope{ctx: ctx, cancel: cancel}
}

// Hold starts an ownership in s. It has ended already when s has.
func (s *Scope) Hold() *Hold {
	ctx, cancel := context.WithCancel(s.ctx)
	return &Hold{ctx: ctx, cancel: cancel}
}

// End ends s and every Hold taken in it. Later calls do nothing.
func (s *Scope) End() { s.cancel() }

// Ended reports whether s has ended.
func (s *Scope) Ended() bool { return s.ctx.Err() != nil }

// Done is closed when s ends.
func (s *Scope) Done() <-chan struct{} { return s.ctx.Done() }

// Context is done when s ends: work of the session (its monitor, its
// waiters) runs on it.
func (s *Scope) Context() context.Context { return s.ctx }

// NewHold returns a live Hold of no scope, for an ownership that only
// ends by itself (a flock ends with its descriptor).
func NewHold() *Hold {
	ctx, cancel := context.WithCancel(context.Background())
	return &Hold{ctx: ctx, cancel: cancel}
}

// Hold is one ownership's lifetime. Embedded in a driver's ownership type
// it provides Lost and OnLost (tooz.LostNotifier), so that the Coordinator
// follows the ownership without a goroutine of its own.
type Hold struct {
	ctx    context.Context
	cancel context.CancelFunc
	ended  atomic.Bool // End was called
}

// Lost is closed when the ownership ends: End, or the end of its scope.
func (h *Hold) Lost() <-chan struct{} { return h.ctx.Done() }

// OnLost arranges for f to run on a goroutine of its own once the
// ownership ends (at once if it has), and returns a function that cancels
// that, reporting whether it did, as context.AfterFunc does. It starts no
// goroutine until then.
func (h *Hold) OnLost(f func()) (stop func() bool) { return context.AfterFunc(h.ctx, f) }

// End ends the ownership. It reports whether the ownership was live until
// this call: false when an earlier End, or the end of its scope, came
// first. Concurrent calls report true to one caller at most.
func (h *Hold) End() bool {
	if h.ended.Swap(true) {
		return false
	}
	live := h.ctx.Err() == nil
	h.cancel()
	return live
}

// Ended reports whether the ownership has ended.
func (h *Hold) Ended() bool { return h.ctx.Err() != nil }

// Context is done when the ownership ends: work that only matters while
// it lasts (a watch of its key) runs on it.
func (h *Hold) Context() context.Context { return h.ctx }
