// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toozgo/tooz/internal/driverkit"
)

// Stats counts what the heart has seen, for metrics and tests.
type Stats struct {
	Beats        uint64 // heartbeats that succeeded
	FailedBeats  uint64 // heartbeats that returned an error
	LateBeats    uint64 // heartbeats that started later than scheduled by more than half an interval
	SessionsLost uint64 // times the liveness expired (reported by the driver or by the local deadline)
}

type stats struct {
	beats, failed, late, lost atomic.Uint64
}

// Stats returns the heart's counters.
func (c *Coordinator) Stats() Stats {
	return Stats{
		Beats:        c.stats.beats.Load(),
		FailedBeats:  c.stats.failed.Load(),
		LateBeats:    c.stats.late.Load(),
		SessionsLost: c.stats.lost.Load(),
	}
}

// Heartbeat renews this member's liveness once and returns how long to wait
// before the next call. The heart calls it on its own unless the coordinator
// was opened WithoutHeart. When the backend reports the liveness lost, every
// lock and leadership is reported lost, a new session is in place and the
// member re-joins its groups; the error then wraps ErrSessionLost.
func (c *Coordinator) Heartbeat(ctx context.Context) (time.Duration, error) {
	return c.heartbeat(ctx, false)
}

// heartbeat is Heartbeat; late says that the heart started it late.
func (c *Coordinator) heartbeat(ctx context.Context, late bool) (time.Duration, error) {
	if err := c.check(); err != nil {
		return 0, wrap(err, "heartbeat", "", c.member, "")
	}
	start := time.Now()
	next, err := c.drv.Heartbeat(ctx)
	c.obs.Beat(BeatInfo{Backend: c.scheme, Duration: time.Since(start), Err: err, Late: late})
	switch {
	case err == nil:
		c.stats.beats.Add(1)
		c.live.renewed(start)
	case errors.Is(err, ErrSessionLost):
		// The driver has already ended every ownership of the old session
		// by closing its Lost channel: end those holdings now, so that
		// every Lost() is closed when Heartbeat returns. Holdings whose
		// ownership is still open were taken under the new session.
		c.sessionLost()
		c.endLostHoldings(err)
		c.live.renewed(start)
		c.mu.Lock()
		c.rejoin = true
		c.mu.Unlock()
		c.log.Warn("tooz: liveness lost; re-joining groups", "err", err)
	default:
		c.stats.failed.Add(1)
		return next, wrap(err, "heartbeat", "", c.member, "")
	}
	if rerr := c.rejoinGroups(ctx); rerr != nil && err == nil {
		err = rerr
	}
	return next, wrap(err, "heartbeat", "", c.member, "")
}

// rejoinGroups joins again every group this member had joined, after its
// liveness was lost. A group deleted meanwhile is forgotten.
func (c *Coordinator) rejoinGroups(ctx context.Context) error {
	c.mu.Lock()
	if !c.rejoin {
		c.mu.Unlock()
		return nil
	}
	groups := make(map[string][]byte, len(c.joined))
	for g, caps := range c.joined {
		groups[g] = caps
	}
	c.mu.Unlock()
	var firstErr error
	for g, caps := range groups {
		err := c.drv.JoinGroup(ctx, g, caps)
		switch {
		case err == nil, errors.Is(err, ErrMemberAlreadyJoined):
		case errors.Is(err, ErrGroupNotCreated):
			c.log.Warn("tooz: group deleted while the session was lost; not re-joined", "group", g)
			c.mu.Lock()
			delete(c.joined, g)
			c.mu.Unlock()
		default:
			if firstErr == nil {
				firstErr = fmt.Errorf("re-join group %q: %w", g, err)
			}
		}
	}
	if firstErr == nil {
		c.mu.Lock()
		c.rejoin = false
		c.mu.Unlock()
	}
	return firstErr
}

// liveness is the coordinator's own view of whether its session is alive: a
// session renewed by a beat that started at t is alive until t+timeout at
// the latest, whatever the backend's clock says. The coordinator gives up
// driverkit.Margin earlier (a tenth of the timeout, for clock rate drift
// and scheduling; the drivers' own ownership deadlines use the same rule), and
// when that moment passes with no newer successful beat the current epoch
// ends: every lock and leadership taken in it is reported lost before the
// backend can hand it to anyone else.
type liveness struct {
	timeout time.Duration // the liveness timeout
	log     *slog.Logger

	mu         sync.Mutex
	epoch      context.Context // done when the epoch ends
	endEpoch   context.CancelFunc
	validUntil time.Time
	renewal    chan struct{} // closed (and replaced) by every successful beat
	timer      *time.Timer
	stopped    bool
	onExpire   func()
}

func newLiveness(start time.Time, timeout time.Duration, log *slog.Logger, onExpire func()) *liveness {
	l := &liveness{timeout: timeout, log: log, renewal: make(chan struct{}), onExpire: onExpire}
	l.epoch, l.endEpoch = context.WithCancel(context.Background())
	l.validUntil = driverkit.ValidUntil(start, timeout)
	l.timer = time.AfterFunc(time.Until(l.validUntil), l.check)
	return l
}

// now returns the current epoch, a context done when it ends, and whether
// the liveness stands at this moment: the deadline may have passed before
// the timer ended the epoch, and a new epoch stands only once a beat
// renews it.
func (l *liveness) now() (context.Context, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, time.Now().Before(l.validUntil)
}

// waitLive returns once the liveness stands (at once when it does), ctx's
// error when ctx ends first, or ErrClosed once the coordinator shuts down.
func (l *liveness) waitLive(ctx context.Context) error {
	for {
		l.mu.Lock()
		live, renewal, stopped := time.Now().Before(l.validUntil), l.renewal, l.stopped
		l.mu.Unlock()
		switch {
		case stopped:
			return ErrClosed
		case live:
			return nil
		}
		select {
		case <-renewal:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// nextRenewal returns a channel closed by the next successful beat (or by
// stop), and whether the liveness has already stopped.
func (l *liveness) nextRenewal() (<-chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewal, l.stopped
}

// renewed records a successful beat that started at start.
func (l *liveness) renewed(start time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	close(l.renewal)
	l.renewal = make(chan struct{})
	until := driverkit.ValidUntil(start, l.timeout)
	if until.After(l.validUntil) {
		l.validUntil = until
	}
	l.timer.Reset(time.Until(l.validUntil))
}

func (l *liveness) check() {
	l.mu.Lock()
	if l.stopped || time.Now().Before(l.validUntil) {
		if !l.stopped {
			l.timer.Reset(time.Until(l.validUntil))
		}
		l.mu.Unlock()
		return
	}
	l.endEpoch()
	l.epoch, l.endEpoch = context.WithCancel(context.Background())
	f := l.onExpire
	l.mu.Unlock()
	l.log.Warn("tooz: no successful heartbeat within the timeout; locks and leaderships are lost")
	if f != nil {
		f()
	}
}

func (l *liveness) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.stopped = true
		close(l.renewal) // wakes waitLive
	}
	l.timer.Stop()
}

// heart is the goroutine that keeps a member alive by calling the driver's
// heartbeat at the interval the driver asks for, and reports beats that run late.
type heart struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// minRetry and maxRetry bound the wait before retrying a failed beat.
const (
	minRetry = 50 * time.Millisecond
	maxRetry = time.Second
)

func startHeart(c *Coordinator) *heart {
	ctx, cancel := context.WithCancel(context.Background())
	h := &heart{cancel: cancel, done: make(chan struct{})}
	go h.run(ctx, c)
	return h
}

func (h *heart) run(ctx context.Context, c *Coordinator) {
	defer close(h.done)
	next := time.Duration(0)
	retry := min(max(c.timeout/10, minRetry), maxRetry)
	t := time.NewTimer(0)
	defer t.Stop()
	scheduled := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		late := time.Since(scheduled)
		isLate := next > 0 && late > next/2
		if isLate {
			c.stats.late.Add(1)
			c.log.Warn("tooz: heartbeat ran late", "late", late.Round(time.Millisecond), "interval", next)
		}
		bctx, cancel := context.WithTimeout(ctx, max(c.timeout/2, minRetry))
		d, err := c.heartbeat(bctx, isLate)
		cancel()
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return
		}
		switch {
		case err != nil && !errors.Is(err, ErrSessionLost):
			c.log.Warn("tooz: heartbeat failed", "err", err)
			next = retry
		case d <= 0:
			next = max(c.timeout/3, minRetry)
		default:
			next = d
		}
		scheduled = time.Now().Add(next)
		t.Reset(next)
	}
}

func (h *heart) stop() {
	h.cancel()
	<-h.done
}
