// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package driverkit

import "sync"

// Runner runs a driver's background goroutines (watches, withdrawals,
// answers awaited after a caller gave up) and lets Close wait for them.
// Once stopped it refuses new work, so that nothing starts after Close has
// waited. The zero value is ready; it is safe for concurrent use.
type Runner struct {
	mu      sync.Mutex
	wg      sync.WaitGroup
	stopped bool
}

// Go runs f on a goroutine of its own and reports true, or, once the
// runner is stopped, does nothing and reports false.
func (r *Runner) Go(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// Enter counts the calling goroutine (a timer's callback, a client's
// callback) as one of the runner's until Leave, so that Wait waits for it,
// and reports true; once the runner is stopped it counts nothing and
// reports false. Every true Enter must be followed by one Leave.
func (r *Runner) Enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	r.wg.Add(1)
	return true
}

// Leave ends what Enter began.
func (r *Runner) Leave() { r.wg.Done() }

// Stop refuses work from now on, without waiting for what runs.
func (r *Runner) Stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

// Wait stops the runner and waits for every goroutine it started.
func (r *Runner) Wait() {
	r.Stop()
	r.wg.Wait()
}
