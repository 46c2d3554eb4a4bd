// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/sharerec"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestSharedForeignKeysIgnored: keys under a semaphore's or read/write
// lock's prefix that are no contender records (logged), or that no
// session holds (they would never go), are never counted as holders.
func TestSharedForeignKeysIgnored(t *testing.T) {
	s := testserver.StartConsul(t)
	ctx := testutil.Context(t, 60*time.Second)
	var logs testutil.LogBuffer
	c := open(t, newHarness(s, ""), "m", tooz.WithLogger(logs.Logger()))
	raw := rawClient(t, s)
	// A session that holds a garbage key as a contender would.
	sid, _, err := raw.Session().Create(&api.SessionEntry{TTL: "30s", Behavior: api.SessionBehaviorDelete}, nil)
	testutil.Must(t, err, "create a session")
	t.Cleanup(func() { _, _ = raw.Session().Destroy(sid, nil) })
	name := testutil.Unique("foreign")
	d := c.Driver().(*conn)
	for _, kind := range []tooz.ResourceKind{tooz.KindSemaphore, tooz.KindRWLock} {
		base := d.sharedBase(tooz.Resource{Kind: kind, Name: name})
		_, err := raw.KV().Put(&api.KVPair{Key: base + "nosession", Value: []byte(sharerec.Encode(tooz.Share{Limit: 1}, "ghost"))}, nil)
		testutil.Must(t, err, "put a key without a session")
		ok, _, err := raw.KV().Acquire(&api.KVPair{Key: base + "garbage", Value: []byte("hello"), Session: sid}, nil)
		if err != nil || !ok {
			t.Fatalf("acquire a garbage key: %v, %v", ok, err)
		}
	}
	testutil.CheckForeignIgnored(t, ctx, c, name, &logs, "ignoring a key")
}
