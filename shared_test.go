// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

func TestShareHolds(t *testing.T) {
	x, r := tooz.Share{Exclusive: true}, tooz.Share{}
	s2 := tooz.Share{Limit: 2}
	for _, tc := range []struct {
		s     tooz.Share
		ahead []tooz.Share
		want  bool
	}{
		{x, nil, true},
		{x, []tooz.Share{r}, false},
		{x, []tooz.Share{x}, false},
		{r, nil, true},
		{r, []tooz.Share{r, r, r}, true},
		{r, []tooz.Share{r, x}, false}, // a queued writer is not overtaken
		{r, []tooz.Share{x, r}, false},
		{s2, nil, true},
		{s2, []tooz.Share{s2}, true},
		{s2, []tooz.Share{s2, s2}, false},
	} {
		if got := tc.s.Holds(tc.ahead); got != tc.want {
			t.Errorf("%+v.Holds(%+v) = %v, want %v", tc.s, tc.ahead, got, tc.want)
		}
	}
}

func TestShareAgrees(t *testing.T) {
	s2, s3 := tooz.Share{Limit: 2}, tooz.Share{Limit: 3}
	if err := s2.Agrees(nil); err != nil {
		t.Errorf("first contender: %v", err)
	}
	if err := s2.Agrees([]tooz.Share{s2, s3}); err != nil {
		t.Errorf("the oldest agrees, a younger disagreeing one is leaving: %v", err)
	}
	if err := s2.Agrees([]tooz.Share{s3, s2}); !errors.Is(err, tooz.ErrLimitMismatch) {
		t.Errorf("the oldest has 3 permits: %v, want ErrLimitMismatch", err)
	}
}

// TestSharedNotSupported: a driver without tooz.SharedAcquirer reports
// ErrNotSupported for semaphores and read/write locks, never a silent no-op;
// bad input is still reported first.
func TestSharedNotSupported(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tooz.Open(ctx, fmt.Sprintf("stallingmem://nosupport-%d", time.Now().UnixNano()), "a")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, ok := c.Driver().(tooz.SharedAcquirer); ok {
		t.Fatal("the test driver implements SharedAcquirer")
	}
	s := c.Semaphore("s", 2)
	if err := s.Acquire(ctx); !errors.Is(err, tooz.ErrNotSupported) {
		t.Errorf("Semaphore.Acquire: %v, want ErrNotSupported", err)
	}
	if _, err := s.Holders(ctx); !errors.Is(err, tooz.ErrNotSupported) {
		t.Errorf("Semaphore.Holders: %v, want ErrNotSupported", err)
	}
	if _, err := c.Semaphore("s", 0).TryAcquire(ctx); !errors.Is(err, tooz.ErrInvalidLimit) {
		t.Errorf("0 permits: %v, want ErrInvalidLimit first", err)
	}
	l := c.RWLock("l")
	if ok, err := l.TryAcquireShared(ctx); ok || !errors.Is(err, tooz.ErrNotSupported) {
		t.Errorf("RWLock.TryAcquireShared = %v, %v; want ErrNotSupported", ok, err)
	}
	if err := l.Release(ctx); !errors.Is(err, tooz.ErrLockNotHeld) {
		t.Errorf("Release of nothing: %v", err)
	}
	var te *tooz.Error
	if err := s.Acquire(ctx); !errors.As(err, &te) || te.Op != `acquire semaphore "s"` {
		t.Errorf("error %v does not name the semaphore", err)
	}
}
