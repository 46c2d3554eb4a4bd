// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package driverkit

import "sync"

// Pending is cleanup work that failed (a delete the backend did not
// answer, a release that timed out), kept to be tried again after the next
// successful heartbeat, when the backend answers again. It is what a
// session owes the backend: Drop discards it when the session ends, as the
// backend then cleans up after the session itself. The zero value is
// ready; it is safe for concurrent use.
type Pending[T any] struct {
	mu      sync.Mutex
	items   []T
	dropped bool
}

// Add keeps items for the next Run, unless Drop was called.
func (p *Pending[T]) Add(items ...T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.dropped {
		p.items = append(p.items, items...)
	}
}

// Try runs do on each item now and keeps those it fails on for the next
// Run.
func (p *Pending[T]) Try(do func(T) error, items ...T) {
	var failed []T
	for _, it := range items {
		if do(it) != nil {
			failed = append(failed, it)
		}
	}
	p.Add(failed...)
}

// Run tries every kept item again with do, keeping those it fails on.
func (p *Pending[T]) Run(do func(T) error) {
	p.mu.Lock()
	todo := p.items
	p.items = nil
	p.mu.Unlock()
	p.Try(do, todo...)
}

// Len reports how many items are kept.
func (p *Pending[T]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.items)
}

// Drop discards every kept item, and every later Add.
func (p *Pending[T]) Drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.items, p.dropped = nil, true
}
