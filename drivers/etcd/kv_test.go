// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestKVForeignData: keys in the key/value namespace that no tooz key
// escapes to are skipped by listings and watches, with a log line.
func TestKVForeignData(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	raw := rawClient(t, s)
	c := open(t, testURL(s), "a")
	root := c.Driver().(*conn).keys.kv("")
	testutil.CheckKVForeign(t, ctx, c, func() {
		for _, k := range []string{"not.escaped", "%FF", "lower%2f", "a/b", ""} {
			if _, err := raw.Put(ctx, root+k, "forged"); err != nil {
				t.Fatal(err)
			}
		}
	})
}
