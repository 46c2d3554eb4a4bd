// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestKVForeignData: entries of the key hash that tooz did not write (a
// field no key escapes to, a malformed entry, a session that is no
// session) and messages it did not publish are skipped, with a log line.
func TestKVForeignData(t *testing.T) {
	s := testserver.StartRedis(t)
	ctx := testutil.Context(t, time.Minute)
	c := open(t, testURL(s, ""), "a")
	d := driverOf(t, c)
	rdb := raw(t, s)
	testutil.CheckKVForeign(t, ctx, c, func() {
		for field, entry := range map[string]string{
			"not.escaped": "1 - forged",
			"%FF":         "1 - forged",
			"plain":       "no revision",
			"short":       "7 notasession forged",
			"empty":       "",
		} {
			if err := rdb.HSet(ctx, d.kvKey(), field, entry).Err(); err != nil {
				t.Fatal(err)
			}
		}
		for _, msg := range []string{"garbage", "1 2 P", "99 98 P 5 ab", "x y z w v"} {
			if err := rdb.Publish(ctx, d.kvChan(), msg).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
