// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// testURL returns a URL on s in a namespace of the test's own.
func testURL(s *testserver.Server, extra string) string {
	u := "redis://" + s.Addr + "/0?namespace=" + testutil.Unique("ns")
	if extra != "" {
		u += "&" + extra
	}
	return u
}

// open opens a coordinator with the tests' liveness timeout, closed when
// the test ends.
func open(t testing.TB, url, member string, opts ...tooz.Option) *tooz.Coordinator {
	t.Helper()
	return testutil.Open(t, 10*time.Second, url, member, append([]tooz.Option{tooz.WithTimeout(testTimeout)}, opts...)...)
}

// raw connects a plain go-redis client to s, closed when the test ends.
func raw(t testing.TB, s *testserver.Server) *goredis.Client {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: s.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// driverOf returns the Redis driver under c.
func driverOf(t testing.TB, c *tooz.Coordinator) *conn {
	t.Helper()
	d, ok := c.Driver().(*conn)
	if !ok {
		t.Fatalf("driver is %T", c.Driver())
	}
	return d
}

// retry calls f until it succeeds or fails with something other than a
// connection error (a restarted server: the pooled connections are stale
// once each), backing off between attempts, for at most d.
func retry(t testing.TB, d time.Duration, what string, f func() error) error {
	t.Helper()
	deadline := time.Now().Add(d)
	wait := 10 * time.Millisecond
	for {
		err := f()
		if err == nil || !errors.Is(err, tooz.ErrConnection) || time.Now().After(deadline) {
			return err
		}
		t.Logf("%s: %v; retrying", what, err)
		time.Sleep(wait) // back-off between attempts, not synchronization
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// waitClosed waits up to d for ch to close and reports how long it took.
func waitClosed(t testing.TB, ch <-chan struct{}, d time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ch:
		return time.Since(start)
	case <-time.After(d):
		t.Fatalf("%s: not within %v", what, d)
	}
	return 0
}

// events records membership events in order.
type events struct {
	ch chan string
}

func newEvents() *events { return &events{ch: make(chan string, 100)} }

func (e *events) joined(ev tooz.MemberJoined) { e.ch <- "join " + ev.Member }
func (e *events) left(ev tooz.MemberLeft)     { e.ch <- "leave " + ev.Member }

// want waits up to d for the event want, logging the others it sees first.
func (e *events) want(t testing.TB, d time.Duration, want string) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case got := <-e.ch:
			if got == want {
				return
			}
			t.Logf("event %q while waiting for %q", got, want)
		case <-timer.C:
			t.Fatalf("no event %q within %v", want, d)
		}
	}
}
