// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/sharerec"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestSharedForeignKeysIgnored: keys under a semaphore's or read/write
// lock's prefix that are no contender records, or carry no lease (they
// would never expire), are ignored with a log line, never counted as
// holders.
func TestSharedForeignKeysIgnored(t *testing.T) {
	s := testserver.StartEtcd(t)
	ctx := testutil.Context(t, 30*time.Second)
	var logs testutil.LogBuffer
	c := open(t, testURL(s), "m", tooz.WithLogger(logs.Logger()))
	raw := rawClient(t, s)
	name := testutil.Unique("foreign")
	d := c.Driver().(*conn)
	for _, kind := range []tooz.ResourceKind{tooz.KindSemaphore, tooz.KindRWLock} {
		prefix := d.keys.sharedPrefix(tooz.Resource{Kind: kind, Name: name})
		for key, val := range map[string]string{
			"garbage": "hello",
			"nolease": sharerec.Encode(tooz.Share{Limit: 1}, "ghost"),
			"writer":  sharerec.Encode(tooz.Share{Exclusive: true}, "ghost"),
		} {
			if _, err := raw.Put(ctx, prefix+key, val); err != nil {
				t.Fatal(err)
			}
		}
	}
	testutil.CheckForeignIgnored(t, ctx, c, name, &logs, "ignoring a")
}
