// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"time"
)

// SessionEnder is implemented by drivers whose backend keeps a liveness
// alive on its own, without Heartbeat (the ZooKeeper client answers the
// server's pings). EndSession ends this coordinator's liveness on the
// backend at once, as an expiry would: its memberships and ownerships
// vanish and every Ownership's Lost channel closes; the next Heartbeat
// finds the liveness lost, opens a new one and returns an error wrapping
// ErrSessionLost.
//
// A coordinator opened WithoutHeart calls it when no Heartbeat succeeded
// within the timeout, so that WithoutHeart means the same on every
// backend: a coordinator that stops beating loses what it holds.
type SessionEnder interface {
	EndSession(ctx context.Context) error
}

// livenessExpired runs when no heartbeat succeeded within the timeout.
func (c *Coordinator) livenessExpired() {
	c.sessionLost()
	c.expireHoldings()
	if !c.noHeart {
		return // the heart keeps trying; the backend decides about the session
	}
	se, ok := c.drv.(SessionEnder)
	if !ok {
		return
	}
	if !c.enter() {
		return
	}
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), max(c.timeout, time.Second))
		defer cancel()
		if err := se.EndSession(ctx); err != nil {
			c.log.Warn("tooz: could not end the session after missed heartbeats", "err", err)
			return
		}
		c.log.Warn("tooz: no heartbeat within the timeout (WithoutHeart): session ended; the next Heartbeat opens a new one")
	}()
}
