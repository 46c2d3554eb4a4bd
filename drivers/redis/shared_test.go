// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestSharedForeignEntriesIgnored: queue members of a semaphore or
// read/write lock without a decodable entry are skipped (the server logs
// them), and contenders of sessions that are gone are dropped: none is
// counted as a holder.
func TestSharedForeignEntriesIgnored(t *testing.T) {
	s := testserver.StartRedis(t)
	ctx := testutil.Context(t, 30*time.Second)
	c := open(t, testURL(s, ""), "m")
	rdb := raw(t, s)
	name := testutil.Unique("foreign")
	dead := "0123456789abcdef0123456789abcdef"
	for _, kind := range []tooz.ResourceKind{tooz.KindSemaphore, tooz.KindRWLock} {
		k := driverOf(t, c).sharedKey(tooz.Resource{Kind: kind, Name: name})
		testutil.Must(t, rdb.ZAdd(ctx, k, zmember(1, "no-entry")).Err(), "zadd")
		testutil.Must(t, rdb.ZAdd(ctx, k, zmember(2, "garbage")).Err(), "zadd")
		testutil.Must(t, rdb.HSet(ctx, k+":e", "garbage", "hello").Err(), "hset")
		testutil.Must(t, rdb.ZAdd(ctx, k, zmember(3, "deadsession")).Err(), "zadd")
		testutil.Must(t, rdb.HSet(ctx, k+":e", "deadsession", dead+"|"+dead+"|x|0|3|ghost").Err(), "hset")
	}
	testutil.CheckForeignIgnored(t, ctx, c, name, nil, "")
	k := driverOf(t, c).sharedKey(tooz.Resource{Kind: tooz.KindSemaphore, Name: name})
	if n, err := rdb.HExists(ctx, k+":e", "deadsession").Result(); err != nil || n {
		t.Fatalf("the dead session's contender is still queued: %v, %v", n, err)
	}
}

func zmember(score float64, m string) goredis.Z { return goredis.Z{Score: score, Member: m} }
