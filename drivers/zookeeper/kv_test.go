// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestKVForeignData: znodes in the key directory that no tooz key escapes
// to are skipped by listings and watches, with a log line; so are their
// children.
func TestKVForeignData(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	c := open(t, "zookeeper://"+srv.Addr+"/kvforeign?namespace="+unique("ns"), "a")
	dir := drv(c).kvDir()
	z := rawClient(t, srv.Addr)
	testutil.CheckKVForeign(t, ctx, c, func() {
		if err := drv(c).ensurePath(ctx, drv(c).sess, dir); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"not.escaped", "%FF", "lower%2f", "a b"} {
			if _, err := z.Create(dir+"/"+name, []byte("forged"), zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
		}
		if _, err := z.Create(dir+"/not.escaped/child", nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	})
}
