// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestRevokedOutOfBand: an operator deletes a lock's key, and then a
// holder's session key, while the holders run. Each holder must see
// Lost() within the timeout (its next refresh finds the key or the session
// gone), and the lock must be free for the next contender.
func TestRevokedOutOfBand(t *testing.T) {
	s := testserver.StartRedis(t)
	rdb := raw(t, s)
	ctx := testutil.Context(t, time.Minute)
	url := testURL(s, "")
	a, b := open(t, url, "a"), open(t, url, "b")
	name := testutil.Unique("lock")
	lk := driverOf(t, a).lockKey(tooz.Resource{Kind: tooz.KindLock, Name: name})

	la := a.Lock(name)
	testutil.Must(t, la.Acquire(ctx), "a locks")
	testutil.Must(t, rdb.Del(ctx, lk).Err(), "delete the lock key")
	testutil.WaitClosed(t, la.Lost(), testTimeout, "a's lock to be reported lost after its key was deleted")

	lb := b.Lock(name)
	testutil.Must(t, lb.Acquire(ctx), "b locks")
	sid, err := rdb.HGet(ctx, lk, "sid").Result()
	testutil.Must(t, err, "b's session")
	testutil.Must(t, rdb.Del(ctx, driverOf(t, b).skey(sid)).Err(), "delete b's session key")
	testutil.WaitClosed(t, lb.Lost(), testTimeout, "b's lock to be reported lost after its session key was deleted")
	testutil.Must(t, a.Lock(name).Acquire(ctx), "a locks again")
}
