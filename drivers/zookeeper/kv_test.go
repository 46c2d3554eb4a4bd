// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"fmt"
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

// TestManyKeysAndMembers lists more znodes than one batch, which goes
// through readMany's connection: every key and member is there, with its
// data, and a znode deleted meanwhile is simply absent.
func TestManyKeysAndMembers(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, 2*time.Minute)
	c := open(t, "zookeeper://"+srv.Addr+"/many?namespace="+unique("ns"), "a")
	d := drv(c)
	z := rawClient(t, srv.Addr)
	const n = 2*readBatch + 17
	g := unique("g")
	testutil.Must(t, c.CreateGroup(ctx, g), "create group")
	testutil.Must(t, d.ensurePath(ctx, d.sess, d.kvDir()), "key directory")
	var ops []any
	flush := func() {
		if _, err := z.Multi(ops...); err != nil {
			t.Fatal(err)
		}
		ops = ops[:0]
	}
	for i := range n {
		ops = append(ops,
			&zk.CreateRequest{Path: d.kvDir() + "/" + fmt.Sprintf("k%05d", i), Data: []byte(fmt.Sprint(i)), Acl: zk.WorldACL(zk.PermAll)},
			&zk.CreateRequest{Path: d.memberPath(g, fmt.Sprintf("m%05d", i)), Data: []byte(fmt.Sprint(i)), Acl: zk.WorldACL(zk.PermAll), Flags: zk.FlagEphemeral})
		if len(ops) >= 500 {
			flush()
		}
	}
	flush()
	kvs, err := c.KV().List(ctx, "k")
	testutil.Must(t, err, "list keys")
	if len(kvs) != n {
		t.Fatalf("listed %d keys, want %d", len(kvs), n)
	}
	for i, kv := range kvs {
		if kv.Key != fmt.Sprintf("k%05d", i) || string(kv.Value) != fmt.Sprint(i) || kv.Revision == 0 {
			t.Fatalf("key %d: %q=%q at %d", i, kv.Key, kv.Value, kv.Revision)
		}
	}
	ms, err := c.MembersInfo(ctx, g)
	testutil.Must(t, err, "members")
	if len(ms) != n || ms[n-1].ID != fmt.Sprintf("m%05d", n-1) || string(ms[n-1].Capabilities) != fmt.Sprint(n-1) {
		t.Fatalf("listed %d members (last %+v), want %d", len(ms), ms[len(ms)-1], n)
	}
}
