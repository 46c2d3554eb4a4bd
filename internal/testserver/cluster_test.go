// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/toozgo/tooz/internal/netlab"
	"github.com/toozgo/tooz/internal/testserver"
)

// etcdNodeClient opens an etcd client on one member only.
func etcdNodeClient(t *testing.T, n *testserver.Server) *clientv3.Client {
	return newEtcd(t, n)
}

func waitLeader(t *testing.T, c *testserver.Cluster, not ...int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), recoverTimeout)
	defer cancel()
	began := time.Now()
	l, err := c.WaitLeader(ctx, not...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s leads after %v", c.Nodes[l].Name, time.Since(began).Round(time.Millisecond))
	return l
}

func TestEtcdCluster(t *testing.T) {
	c := testserver.StartEtcdCluster(t, 3, testserver.WithNoFsync())
	if len(c.Nodes) != 3 || strings.Count(c.Addrs(), ",") != 2 {
		t.Fatalf("nodes %d, addrs %q", len(c.Nodes), c.Addrs())
	}
	leader := waitLeader(t, c)
	other := (leader + 1) % 3
	key := uniqueKey(t)
	// Written through the leader, read through a follower.
	if _, err := etcdNodeClient(t, c.Nodes[leader]).Put(opCtx(t, opTimeout), key, "v1"); err != nil {
		t.Fatalf("put: %v", err)
	}
	follower := etcdNodeClient(t, c.Nodes[other])
	if err := etcdGet(opCtx(t, opTimeout), follower, key, "v1"); err != nil {
		t.Fatal(err)
	}

	// The leader crashes: the other two elect a new one and serve.
	c.Nodes[leader].Kill()
	newLeader := waitLeader(t, c, leader)
	eventually(t, recoverTimeout, "put through a follower after the leader was killed", func(ctx context.Context) error {
		_, err := follower.Put(ctx, key, "v2")
		return err
	})

	// Quorum loss: with one of three running, nothing is written.
	survivor := 3 - leader - newLeader
	c.Nodes[newLeader].Kill()
	if _, err := etcdNodeClient(t, c.Nodes[survivor]).Put(opCtx(t, pausedTimeout), key, "v3"); err == nil {
		t.Fatal("put without a quorum succeeded")
	}
	if _, err := c.Leader(opCtx(t, opTimeout)); err == nil {
		t.Fatal("Leader found a leader without a quorum")
	}

	// The killed members come back on their data.
	if err := c.Nodes[leader].Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Nodes[newLeader].Restart(); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, c)
	eventually(t, recoverTimeout, "get through the restarted member", func(ctx context.Context) error {
		return etcdGet(ctx, etcdNodeClient(t, c.Nodes[leader]), key, "v2")
	})

	// Pause isolates a member in effect: a paused leader is replaced.
	l := waitLeader(t, c)
	c.Nodes[l].Pause()
	waitLeader(t, c, l)
	c.Nodes[l].Resume()
}

func TestZooKeeperEnsemble(t *testing.T) {
	c := testserver.StartZooKeeperEnsemble(t, 3, testserver.WithNoFsync())
	leader := waitLeader(t, c)
	other := (leader + 1) % 3
	path := "/" + uniqueKey(t)
	if _, err := newZK(t, c.Nodes[leader], 10*time.Second).Create(path, []byte("v1"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create: %v", err)
	}
	// A follower may lag behind the leader: sync first, as a reader that
	// needs the latest value would.
	follower := newZK(t, c.Nodes[other], 10*time.Second)
	if _, err := follower.Sync(path); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if err := zkGet(opCtx(t, opTimeout), follower, path, "v1"); err != nil {
		t.Fatal(err)
	}

	c.Nodes[leader].Kill()
	newLeader := waitLeader(t, c, leader)
	eventually(t, recoverTimeout, "set through a follower after the leader was killed", func(ctx context.Context) error {
		return zkDo(ctx, func() error { _, err := follower.Set(path, []byte("v2"), -1); return err })
	})

	survivor := 3 - leader - newLeader
	c.Nodes[newLeader].Kill()
	if _, err := c.Leader(opCtx(t, opTimeout)); err == nil {
		t.Fatal("Leader found a leader without a quorum")
	}
	lone := newZK(t, c.Nodes[survivor], 10*time.Second)
	if err := zkDo(opCtx(t, time.Second), func() error { _, err := lone.Set(path, []byte("v3"), -1); return err }); err == nil {
		t.Fatal("set without a quorum succeeded")
	}

	if err := c.Nodes[leader].Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Nodes[newLeader].Restart(); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, c)
	restarted := newZK(t, c.Nodes[leader], 10*time.Second)
	eventually(t, recoverTimeout, "get through the restarted server", func(ctx context.Context) error {
		if err := zkDo(ctx, func() error { _, err := restarted.Sync(path); return err }); err != nil {
			return err
		}
		return zkGet(ctx, restarted, path, "v2")
	})
}

// zkDo runs f with a deadline (the zk client has no contexts).
func zkDo(ctx context.Context, f func() error) error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// testClusterInHosts runs a cluster with each node in its own netlab host,
// cuts the leader's host off (peers and clients alike), waits for the
// others to elect a new leader, and heals the cut.
func testClusterInHosts(t *testing.T, start func(t *testing.T, opts ...testserver.Option) *testserver.Cluster) {
	lab := netlab.New(t)
	var hosts []*netlab.Host
	for i := range 3 {
		hosts = append(hosts, lab.AddHost(fmt.Sprintf("n%d", i+1)))
	}
	c := start(t, testserver.WithNoFsync(), testserver.InHosts(hosts...))
	for i, n := range c.Nodes {
		if host, _, _ := net.SplitHostPort(n.Addr); host != hosts[i].IP || c.Hosts[i] != hosts[i] {
			t.Fatalf("node %d at %s, want host %s", i, n.Addr, hosts[i].IP)
		}
	}
	leader := waitLeader(t, c)
	if err := hosts[leader].Cut(opCtx(t, opTimeout)); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, c, leader)
	if err := hosts[leader].Heal(opCtx(t, opTimeout)); err != nil {
		t.Fatal(err)
	}
	// The healed node is reachable again and the cluster still has a
	// leader that a quorum follows.
	waitLeader(t, c)
	eventually(t, recoverTimeout, "the healed node answers", func(ctx context.Context) error {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.Nodes[leader].Addr)
		if err == nil {
			conn.Close()
		}
		return err
	})
}

func TestEtcdClusterInHosts(t *testing.T) {
	testClusterInHosts(t, func(t *testing.T, opts ...testserver.Option) *testserver.Cluster {
		return testserver.StartEtcdCluster(t, 3, opts...)
	})
}

func TestZooKeeperEnsembleInHosts(t *testing.T) {
	testClusterInHosts(t, func(t *testing.T, opts ...testserver.Option) *testserver.Cluster {
		return testserver.StartZooKeeperEnsemble(t, 3, opts...)
	})
}
