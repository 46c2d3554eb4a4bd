// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"errors"
	"time"
)

// Observer sees what a Coordinator does, for metrics and traces, without
// the core depending on a telemetry library: package
// github.com/toozgo/tooz/otel implements it with OpenTelemetry. Set one
// with WithObserver. The Coordinator calls it synchronously, from its own
// goroutines and from the caller's: every method must be safe for
// concurrent use, return quickly, and not call the Coordinator back.
type Observer interface {
	// Begin is called as an operation that may wait starts: acquiring a
	// lock, a semaphore permit or a read/write lock, campaigning, joining
	// a group. The operation goes on with the context Begin returns (so
	// that a span it starts is the parent of what follows), and end is
	// called once, as it returns: err nil means acquired, elected,
	// joined; an error wrapping ErrNotAcquired means another held it
	// (TryAcquire, TryCampaign, a Try that found it taken).
	Begin(ctx context.Context, op Operation) (_ context.Context, end func(err error))
	// HoldingEnded is called as a lock, permit, read/write lock or
	// leadership this coordinator held ends, whatever the reason.
	HoldingEnded(HoldingEnd)
	// Beat is called after each heartbeat, by the heart or by the
	// application (Heartbeat).
	Beat(BeatInfo)
	// SessionLost is called when this member's liveness expired (told by
	// the backend, or by the local deadline).
	SessionLost(backend string)
	// LeaderChanged is called when a WatchLeader of this coordinator sees
	// group's leader change (leader is "" when it has none).
	LeaderChanged(backend, group, leader string)
	// Delivered is called as an event is handed to a watch hook: kind is
	// the event's (joined, left, updated, elected, leadership_lost), lag
	// the time since the change reached the Coordinator.
	Delivered(backend, kind string, lag time.Duration)
}

// Operation is what Observer.Begin is told about an operation.
type Operation struct {
	Name    string // "acquire", "campaign" or "join"
	Kind    string // "lock", "semaphore", "rwlock", "election" or "group"
	Target  string // the lock, semaphore, read/write lock or group name
	Backend string // the URL scheme: etcd, consul, zookeeper, redis, file, memory
	Wait    bool   // false for a try
}

// HoldingEnd is what Observer.HoldingEnded is told about a holding.
type HoldingEnd struct {
	Kind    string // "lock", "semaphore", "rwlock" or "election"
	Target  string
	Backend string
	Held    time.Duration // from the acquisition returning to the end
	// Cause is "released" (Release, Resign, StandDown, and a leader's
	// stand-down for a preempting candidate), "closed" (Close),
	// "session_lost" (the member's liveness expired, or Abandon) or
	// "revoked" (the backend no longer recorded the owner while the
	// liveness stood: deleted out of band, expired on a lock TTL).
	Cause string
}

// BeatInfo is what Observer.Beat is told about a heartbeat.
type BeatInfo struct {
	Backend  string
	Duration time.Duration // the renewal's round trip
	Err      error         // nil for a successful beat; wraps ErrSessionLost when it found the liveness lost
	Late     bool          // it started later than scheduled by more than half an interval
}

// WithObserver makes the Coordinator report to o (see Observer).
func WithObserver(o Observer) Option { return func(opts *options) { opts.observer = o } }

// noObserver is the Observer of a Coordinator opened without one.
type noObserver struct{}

func (noObserver) Begin(ctx context.Context, _ Operation) (context.Context, func(error)) {
	return ctx, func(error) {}
}
func (noObserver) HoldingEnded(HoldingEnd)                 {}
func (noObserver) Beat(BeatInfo)                           {}
func (noObserver) SessionLost(string)                      {}
func (noObserver) LeaderChanged(string, string, string)    {}
func (noObserver) Delivered(string, string, time.Duration) {}

// begin starts observing an operation on res.
func (c *Coordinator) begin(ctx context.Context, name string, res Resource, wait bool) (context.Context, func(error)) {
	return c.obs.Begin(ctx, Operation{Name: name, Kind: kindName(res.Kind), Target: res.Name, Backend: c.scheme, Wait: wait})
}

// kindName is k as Operation.Kind and HoldingEnd.Kind name it: its String,
// in one word.
func kindName(k ResourceKind) string {
	if k == KindRWLock {
		return "rwlock"
	}
	return k.String()
}

// endCause names why a holding ended, for HoldingEnd.Cause: err is the
// holding's reason (nil for a release, and for Close, which closed says),
// and every loss wraps ErrSessionLost.
func endCause(err error, closed bool) string {
	switch {
	case err == nil && closed:
		return "closed"
	case err == nil:
		return "released"
	case errors.Is(err, errRevoked):
		return "revoked"
	}
	return "session_lost"
}

// errRevoked ends a holding whose ownership the backend no longer records
// while the member's liveness stands (deleted out of band, expired on its
// own lock TTL); it is wrapped with ErrSessionLost.
var errRevoked = errors.New("the backend no longer records this owner")

// sessionLost counts a lost liveness and reports it.
func (c *Coordinator) sessionLost() {
	c.stats.lost.Add(1)
	c.obs.SessionLost(c.scheme)
}
