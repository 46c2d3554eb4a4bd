// Package conformance is the test suite every tooz driver must pass. A
// driver's test calls Run with a Harness that opens coordinators on the
// backend under test:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, myHarness{url: "mydriver://127.0.0.1:1234"})
//	}
//
// The suite pins the semantics of DESIGN.md: groups and members with every
// error case, ID and capability round trips, pushed join and leave events,
// the membership stream (a snapshot, then joins, updates and leaves with
// capabilities, gap-free under a 50-member storm), restarts with the same
// member ID, WithoutHeart, expiry of crashed members, leader election and failover, locks with
// fencing tokens and loss signals, Close freeing everything at once, and
// the driver's declared characteristics. Each subtest uses names of its own
// and coordinators of its own, and a watchdog fails a subtest that hangs.
package conformance

import (
	"context"
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
