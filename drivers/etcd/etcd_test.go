// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// testTimeout is the liveness timeout of the tests' coordinators.
const testTimeout = 2 * time.Second

// rawClient connects a plain etcd client to s, closed when the test ends.
func rawClient(t testing.TB, s *testserver.Server) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"http://" + s.Addr},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("raw etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// harness opens coordinators on one etcd server and namespace. It does not
// implement conformance.SessionExpirer: revoking a lease behind a live
// coordinator's back is not an expiry (the coordinator cannot know before
// its next heartbeat), so the suite opens such coordinators WithoutHeart
// and lets their lease really expire.
type harness struct {
	conformance.URLHarness
	raw *clientv3.Client
}

// leaseOf returns the lease ID of an etcd coordinator.
func leaseOf(c *tooz.Coordinator) (clientv3.LeaseID, error) {
	d, ok := c.Driver().(*conn)
	if !ok {
		return 0, fmt.Errorf("driver is %T, not the etcd driver", c.Driver())
	}
	l, err := d.mainLease()
	if err != nil {
		return 0, err
	}
	return l.id, nil
}

// revokeLease ends c's lease on the server behind c's back, as an expiry would.
func revokeLease(ctx context.Context, raw *clientv3.Client, c *tooz.Coordinator) error {
	id, err := leaseOf(c)
	if err != nil {
		return err
	}
	if _, err := raw.Revoke(ctx, id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return err
	}
	return nil
}

func newHarness(t *testing.T, s *testserver.Server) harness {
	return harness{
		URLHarness: conformance.URLHarness{
			URL:             "etcd://" + s.Addr + "?namespace=" + testutil.Unique("conformance"),
			LivenessTimeout: testTimeout,
		},
		raw: rawClient(t, s),
	}
}

// BreakHistory implements conformance.HistoryBreaker: c's watches lose
// their streams and are held back while during runs and the history they
// need is compacted away, so that they must list again.
func (h harness) BreakHistory(ctx context.Context, t *testing.T, c *tooz.Coordinator, during func() error) error {
	d, ok := c.Driver().(*conn)
	if !ok {
		return fmt.Errorf("driver is %T, not the etcd driver", c.Driver())
	}
	hold := make(chan struct{})
	paused := make(chan int64, 1)
	var once sync.Once
	hook := func(rev int64) { once.Do(func() { paused <- rev; <-hold }) }
	d.testHookWatch.Store(&hook)
	defer d.testHookWatch.Store(nil)
	defer close(hold)
	d.breakStreams()
	var rev int64
	select {
	case rev = <-paused:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := during(); err != nil {
		return err
	}
	for { // wait until some change is past rev (the suite makes them)
		head, err := h.raw.Get(ctx, "compaction-probe")
		if err != nil {
			return err
		}
		if head.Header.Revision > rev+1 {
			_, err := h.raw.Compact(ctx, head.Header.Revision, clientv3.WithCompactPhysical())
			return err
		}
		if !driverkit.Sleep(ctx, 10*time.Millisecond) { // polling an observable condition
			return ctx.Err()
		}
	}
}

func TestConformance(t *testing.T) {
	s := testserver.StartEtcd(t)
	conformance.Run(t, newHarness(t, s))
}

// TestConformanceEtcd34 runs the suite against Debian's etcd 3.4, the
// oldest supported server.
func TestConformanceEtcd34(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the suite runs against the current etcd only")
	}
	s := testserver.StartEtcd(t, testserver.WithEtcd34())
	conformance.Run(t, newHarness(t, s))
}

// open opens a coordinator with the tests' liveness timeout, closed when
// the test ends.
func open(t testing.TB, url, member string, opts ...tooz.Option) *tooz.Coordinator {
	t.Helper()
	return testutil.Open(t, 10*time.Second, url, member, append([]tooz.Option{tooz.WithTimeout(testTimeout)}, opts...)...)
}

func testURL(s *testserver.Server) string {
	return "etcd://" + s.Addr + "?namespace=" + testutil.Unique("ns")
}

// TestSubSecondTimeoutRefused: etcd leases last whole seconds, so a
// shorter timeout is refused at Open, with the minimum in the message —
// through a URL and on the application's own client alike.
func TestSubSecondTimeoutRefused(t *testing.T) {
	s := testserver.StartEtcd(t)
	ctx := testutil.Context(t, time.Minute)
	_, err := tooz.Open(ctx, "etcd://"+s.Addr+"?timeout=500ms", "m")
	if !errors.Is(err, tooz.ErrInvalidURL) || !strings.Contains(err.Error(), "1s") {
		t.Errorf("Open with timeout=500ms = %v, want ErrInvalidURL naming 1s", err)
	}
	raw := rawClient(t, s)
	_, err = Open(ctx, raw, "etcd://?timeout=500ms", "m")
	if !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open on an own client with timeout=500ms = %v, want ErrInvalidURL", err)
	}
	if _, err := raw.Get(ctx, "probe"); err != nil {
		t.Errorf("the application's client was closed by the refused Open: %v", err)
	}
}
