// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestKVForeignData: keys in the key/value namespace that no tooz key
// escapes to are skipped by listings and watches, with a log line.
func TestKVForeignData(t *testing.T) {
	s := testserver.StartConsul(t)
	ctx := testutil.Context(t, time.Minute)
	h := newHarness(s, "")
	c := open(t, h, "a")
	root := h.keys(t).kvKey("")
	kv := rawClient(t, s).KV()
	testutil.CheckKVForeign(t, ctx, c, func() {
		for _, k := range []string{"not.escaped", "%FF", "lower%2f", "a/b", "dir/"} {
			if _, err := kv.Put(&api.KVPair{Key: root + k, Value: []byte("forged")}, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}
