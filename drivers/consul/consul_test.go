// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// testTimeout is the liveness timeout (session TTL) of the tests'
// coordinators; the test agent accepts TTLs from 1s.
const testTimeout = 2 * time.Second

// harness opens coordinators on one Consul agent and namespace.
//
// It implements conformance.ExpiryBounder: Consul invalidates a session up
// to twice its TTL after the last renewal. It does not implement
// conformance.SessionExpirer: destroying a session behind a live
// coordinator's back is not an expiry (the servers free its locks at once,
// before the coordinator can know), so the suite opens such coordinators
// WithoutHeart and lets their session really expire. Out-of-band
// destruction has a test of its own (TestSessionDestroyedOutOfBand).
type harness struct {
	conformance.URLHarness
}

// ExpiryBound implements conformance.ExpiryBounder.
func (h harness) ExpiryBound() time.Duration { return 2 * h.LivenessTimeout }

// WatchesReportState implements conformance.StateWatcher: a blocking query
// answers with the prefix's state, so a member that joins and leaves
// between two answers is never seen.
func (harness) WatchesReportState() bool { return true }

// BreakHistory implements conformance.HistoryBreaker: c's watches drop
// the answers that come while during runs, so they see only its net
// effect, as after an outage of the agent.
func (harness) BreakHistory(ctx context.Context, t *testing.T, c *tooz.Coordinator, during func() error) error {
	d, ok := c.Driver().(*conn)
	if !ok {
		return fmt.Errorf("driver is %T, not the Consul driver", c.Driver())
	}
	hold := make(chan struct{})
	d.testHoldWatches.Store(&hold)
	defer func() {
		d.testHoldWatches.Store(nil)
		close(hold)
	}()
	return during()
}

func newHarness(s *testserver.Server, options string) harness {
	return harness{conformance.URLHarness{
		URL:             fmt.Sprintf("consul://%s?namespace=%s%s", s.Addr, testutil.Unique("conformance"), options),
		LivenessTimeout: testTimeout,
	}}
}

// rawClient connects a plain consul/api client to s.
func rawClient(t testing.TB, s *testserver.Server) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cli, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("raw consul client: %v", err)
	}
	return cli
}

// sessionOf returns the ID of c's current Consul session.
func sessionOf(t testing.TB, c *tooz.Coordinator) string {
	t.Helper()
	d, ok := c.Driver().(*conn)
	if !ok {
		t.Fatalf("driver is %T, not the consul driver", c.Driver())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sess.id
}

func TestConformance(t *testing.T) {
	s := testserver.StartConsul(t)
	conformance.Run(t, newHarness(s, ""))
}

// open opens a coordinator on h, closed when the test ends.
func open(t testing.TB, h harness, member string, opts ...tooz.Option) *tooz.Coordinator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := h.Open(ctx, nil, member, opts...)
	if err != nil {
		t.Fatalf("open %q: %v", member, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Logf("close %q: %v", member, err)
		}
	})
	return c
}

// recv waits up to d for a value from ch.
func recv[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("waited %v for %s", d, what)
		panic("unreachable")
	}
}

// logSink is a slog.Handler that keeps every line, for tests that wait for
// a particular line or make sure that none holds a secret.
type logSink struct {
	*logLines
	attrs string
}

type logLines struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{logLines: &logLines{changed: make(chan struct{})}} }

// Enabled implements slog.Handler.
func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message + l.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// WithAttrs implements slog.Handler.
func (l *logSink) WithAttrs(as []slog.Attr) slog.Handler {
	s := l.attrs
	for _, a := range as {
		s += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return &logSink{logLines: l.logLines, attrs: s}
}

// WithGroup implements slog.Handler.
func (l *logSink) WithGroup(string) slog.Handler { return l }

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// waitFor waits up to d for a line containing sub, and returns it.
func (l *logLines) waitFor(t testing.TB, sub string, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	for {
		l.mu.Lock()
		ch := l.changed
		for _, line := range l.lines {
			if strings.Contains(line, sub) {
				l.mu.Unlock()
				return line
			}
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waited %v for a log line containing %q; lines: %q", d, sub, l.all())
		}
	}
}
