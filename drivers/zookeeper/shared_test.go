// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestSharedForeignZnodesIgnored: znodes in a semaphore's or read/write
// lock's directory whose name is no contender's are ignored with a log
// line, never counted as holders.
func TestSharedForeignZnodesIgnored(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, 30*time.Second)
	var logs testutil.LogBuffer
	c := open(t, "zookeeper://"+srv.Addr+"/foreign", "m", tooz.WithTimeout(2*time.Second), tooz.WithLogger(logs.Logger()))
	raw := rawClient(t, srv.Addr)
	name := unique("foreign")
	for _, kind := range []tooz.ResourceKind{tooz.KindSemaphore, tooz.KindRWLock} {
		dir := drv(c).sharedDir(tooz.Resource{Kind: kind, Name: name})
		path := ""
		for _, part := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
			path += "/" + part
			if _, err := raw.Create(path, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && err != zk.ErrNodeExists {
				t.Fatalf("create %s: %v", path, err)
			}
		}
		for _, n := range []string{"garbage", "c_q1_x_0000000001", "c_s1_0000000002", "c_x3_ab_0000000003"} {
			if _, err := raw.Create(dir+"/"+n, []byte("ghost"), 0, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatalf("create %s: %v", n, err)
			}
		}
	}
	testutil.CheckForeignIgnored(t, ctx, c, name, &logs, "ignoring a znode")
}
