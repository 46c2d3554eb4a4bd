// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package conformance is the test suite every tooz driver must pass. A
// driver's test calls Run with a Harness that opens coordinators on the
// backend under test:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, myHarness{url: "mydriver://127.0.0.1:1234"})
//	}
//
// The suite pins the semantics that the README and package tooz document:
// groups and members with every error case, ID and capability round
// trips, pushed join and leave events, the membership stream (a snapshot,
// then joins, updates and leaves with capabilities, gap-free under a
// 50-member storm), restarts with the same member ID, WithoutHeart,
// expiry of crashed members, leader election and failover, locks with
// fencing tokens and loss signals, semaphores and read/write locks (one
// queueing rule, the permit bound, a writer not starved by readers, size
// agreement, tokens, loss and expiry), Close freeing everything at once, and
// the driver's declared characteristics. Each subtest uses names of its own
// and coordinators of its own, and a watchdog fails a subtest that hangs.
package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// Harness opens coordinators on the backend under test. All coordinators
// opened through one Harness must share one backend and namespace, so that
// they see each other.
type Harness interface {
	// Open opens a coordinator for memberID with the harness's liveness
	// timeout. The suite closes (or abandons) every coordinator it opens.
	Open(ctx context.Context, t *testing.T, memberID string, opts ...tooz.Option) (*tooz.Coordinator, error)
	// Timeout is the liveness timeout coordinators are opened with. Keep
	// it short (1-3 s) so that expiry tests are fast.
	Timeout() time.Duration
	// Crash makes c die as a killed process would: nothing it holds is
	// given up, its background work stops, and the backend frees what it
	// held only when its liveness times out. Crash tests (expiry, failover,
	// locks freed after a crash) cannot run without it. URLHarness does it
	// with Coordinator.Abandon, which needs a driver that implements
	// tooz.Abandoner; a harness for a driver that cannot may, for example,
	// run the coordinator in a child process and kill it.
	Crash(t *testing.T, c *tooz.Coordinator) error
}

// ExpiryBounder is implemented by harnesses whose backend frees a crashed
// member's entries later than Timeout, by design (Consul invalidates a
// session up to twice its TTL after the last renewal). ExpiryBound returns
// the longest time from a crash to the backend freeing what it held.
type ExpiryBounder interface {
	ExpiryBound() time.Duration
}

// URLHarness is a Harness for drivers that need nothing but a URL: it opens
// every coordinator on URL with the given liveness timeout and options.
type URLHarness struct {
	URL             string
	LivenessTimeout time.Duration
	Options         []tooz.Option
}

// Open implements Harness.
func (h URLHarness) Open(ctx context.Context, t *testing.T, memberID string, opts ...tooz.Option) (*tooz.Coordinator, error) {
	all := append([]tooz.Option{tooz.WithTimeout(h.LivenessTimeout)}, h.Options...)
	return tooz.Open(ctx, h.URL, memberID, append(all, opts...)...)
}

// Timeout implements Harness.
func (h URLHarness) Timeout() time.Duration { return h.LivenessTimeout }

// Crash implements Harness with Coordinator.Abandon.
func (h URLHarness) Crash(t *testing.T, c *tooz.Coordinator) error { return Abandon(t, c) }

// Abandon crashes c with Coordinator.Abandon, for harnesses whose driver
// implements tooz.Abandoner.
func Abandon(t *testing.T, c *tooz.Coordinator) error {
	if err := c.Abandon(); err != nil {
		return fmt.Errorf("abandon %q: %w (the driver does not implement tooz.Abandoner: give the harness a Crash of its own)", c.MemberID(), err)
	}
	return nil
}
