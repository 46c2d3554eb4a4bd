// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package driverkit

import (
	"context"
	"sync"
	"time"
)

// Scope is a session's lifetime as the ownerships taken in it see it:
// each is a Hold of the scope, and End ends every one of them at once. A
// driver makes one Scope per backend session (a lease, a Consul or
// ZooKeeper session) and ends it when the session is lost or closed.
type Scope struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	holds map[*Hold]struct{} // nil once ended
}

// NewScope returns a live scope. It also ends when parent does: its
// context at once, its holds on a goroutine of their own just after.
func NewScope(parent context.Context) *Scope {
	ctx, cancel := context.WithCancel(parent)
	s := &Scope{ctx: ctx, cancel: cancel, holds: map[*Hold]struct{}{}}
	context.AfterFunc(ctx, s.endHolds) // parent's end
	return s
}

// Hold starts an ownership in s. It has ended already when s has.
func (s *Scope) Hold() *Hold {
	h := newHold(s)
	s.mu.Lock()
	if s.holds == nil {
		s.mu.Unlock()
		h.lose()
		return h
	}
	s.holds[h] = struct{}{}
	s.mu.Unlock()
	return h
}

// End ends s and every Hold taken in it. Later calls do nothing.
func (s *Scope) End() {
	s.cancel()
	s.endHolds()
}

func (s *Scope) endHolds() {
	s.mu.Lock()
	holds := s.holds
	s.holds = nil
	s.mu.Unlock()
	for h := range holds {
		h.lose()
	}
}

func (s *Scope) forget(h *Hold) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds != nil {
		delete(s.holds, h)
	}
}

// Ended reports whether s has ended.
func (s *Scope) Ended() bool { return s.ctx.Err() != nil }

// Done is closed when s ends.
func (s *Scope) Done() <-chan struct{} { return s.ctx.Done() }

// Context is done when s ends: work of the session (its monitor, its
// waiters) runs on it.
func (s *Scope) Context() context.Context { return s.ctx }

// NewHold returns a live Hold of no scope, for an ownership that only
// ends by itself (a flock ends with its descriptor).
func NewHold() *Hold { return newHold(nil) }

func newHold(s *Scope) *Hold {
	h := &Hold{scope: s, done: make(chan struct{})}
	h.after = h.first[:0]
	return h
}

// Hold is one ownership's lifetime. Embedded in a driver's ownership type
// it provides Lost and OnLost (tooz.LostNotifier), so that the Coordinator
// follows the ownership without a goroutine of its own. It costs no
// goroutine while it lasts, and far less than a context per ownership.
type Hold struct {
	scope *Scope // nil for NewHold's
	done  chan struct{}

	mu    sync.Mutex
	lost  bool // done is closed
	ended bool // End was called
	after []*afterLost
	first [1]*afterLost // after's first room: one OnLost allocates no slice
}

// afterLost is one OnLost function of h.
type afterLost struct {
	h *Hold
	f func()
}

// stop takes a out of its hold's OnLost functions, reporting whether it
// was still there (it had not run).
func (a *afterLost) stop() bool {
	h := a.h
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.after {
		if x == a {
			h.after = append(h.after[:i], h.after[i+1:]...)
			return true
		}
	}
	return false
}

// Lost is closed when the ownership ends: End, or the end of its scope.
func (h *Hold) Lost() <-chan struct{} { return h.done }

// OnLost arranges for f to run on a goroutine of its own once the
// ownership ends (at once if it has), and returns a function that cancels
// that, reporting whether it did, as context.AfterFunc does. It starts no
// goroutine until then.
func (h *Hold) OnLost(f func()) (stop func() bool) {
	a := &afterLost{h: h, f: f}
	h.mu.Lock()
	if h.lost {
		h.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	h.after = append(h.after, a)
	h.mu.Unlock()
	return a.stop
}

// lose closes Lost and starts the OnLost functions, once; it reports
// whether this call did.
func (h *Hold) lose() bool {
	h.mu.Lock()
	if h.lost {
		h.mu.Unlock()
		return false
	}
	h.lost = true
	close(h.done)
	after := h.after
	h.after = nil
	h.mu.Unlock()
	for _, a := range after {
		go a.f()
	}
	return true
}

// End ends the ownership. It reports whether the ownership was live until
// this call: false when an earlier End, or the end of its scope, came
// first. Concurrent calls report true to one caller at most.
func (h *Hold) End() bool {
	h.mu.Lock()
	again := h.ended
	h.ended = true
	h.mu.Unlock()
	if again {
		return false
	}
	live := h.lose()
	if h.scope != nil {
		h.scope.forget(h)
	}
	return live
}

// Ended reports whether the ownership has ended.
func (h *Hold) Ended() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// Context is done when the ownership ends: work that only matters while
// it lasts (a watch of its key) runs on it. Contexts derived from it
// follow it through OnLost, without a goroutine.
func (h *Hold) Context() context.Context { return holdContext{h} }

// holdContext is a Hold as a context.Context. Its AfterFunc method is what
// lets the context package follow it without a goroutine of its own.
type holdContext struct{ h *Hold }

func (c holdContext) Deadline() (time.Time, bool)    { return time.Time{}, false }
func (c holdContext) Done() <-chan struct{}          { return c.h.done }
func (c holdContext) Value(any) any                  { return nil }
func (c holdContext) AfterFunc(f func()) func() bool { return c.h.OnLost(f) }

func (c holdContext) Err() error {
	if c.h.Ended() {
		return context.Canceled
	}
	return nil
}
