// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/redis/go-redis/v9"

	"github.com/toozgo/tooz/internal/testserver"
)

// TestRedisSentinel: the sentinels name Data[0] as the master; killed, its
// replica is promoted, a client through the sentinels writes to it, and the
// old master comes back as a replica of the new one.
func TestRedisSentinel(t *testing.T) {
	r := testserver.StartRedisSentinel(t)
	if m, err := r.Master(opCtx(t, opTimeout)); err != nil || m != 0 {
		t.Fatalf("Master = %d, %v; want 0", m, err)
	}
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    testserver.SentinelMaster,
		SentinelAddrs: []string{r.Sentinels[0].Addr, r.Sentinels[1].Addr, r.Sentinels[2].Addr},
		DialTimeout:   time.Second,
		ReadTimeout:   time.Second,
	})
	t.Cleanup(func() { _ = c.Close() })
	key := uniqueKey(t)
	if err := c.Set(opCtx(t, opTimeout), key, "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// WAIT: the replica has the write before the master dies.
	if n, err := c.Wait(opCtx(t, opTimeout), 1, 5000).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT = %d, %v", n, err)
	}
	began := time.Now()
	r.Data[0].Kill()
	ctx, cancel := context.WithTimeout(context.Background(), recoverTimeout)
	defer cancel()
	m, err := r.WaitMaster(ctx, 0)
	if err != nil || m != 1 {
		t.Fatalf("WaitMaster = %d, %v; want 1", m, err)
	}
	t.Logf("replica promoted %v after the master was killed", time.Since(began).Round(time.Millisecond))
	eventually(t, recoverTimeout, "read and write through the sentinels after the failover", func(ctx context.Context) error {
		if err := c.Set(ctx, key+"-2", "v2", 0).Err(); err != nil {
			return err
		}
		v, err := c.Get(ctx, key).Result()
		if err == nil && v != "v1" {
			t.Fatalf("%s = %q after the failover, want v1", key, v)
		}
		return err
	})
	if err := r.Data[0].Restart(); err != nil {
		t.Fatal(err)
	}
	if err := r.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := r.Master(ctx); err != nil || m != 1 {
		t.Fatalf("Master after the old master came back = %d, %v; want 1", m, err)
	}
}

// TestRedisCluster: six nodes serve all slots; the master of a key's slot
// killed, its replica takes over, a cluster client writes to it, and the
// old master comes back as a replica.
func TestRedisCluster(t *testing.T) {
	r := testserver.StartRedisCluster(t)
	key := uniqueKey(t)
	m, err := r.MasterOf(opCtx(t, opTimeout), key)
	if err != nil || m > 2 {
		t.Fatalf("MasterOf = %d, %v; want one of the first three nodes", m, err)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:       strings.Split(r.Addrs(), ","),
		DialTimeout: time.Second,
		ReadTimeout: time.Second,
	})
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Set(opCtx(t, opTimeout), key, "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Wait(opCtx(t, opTimeout), 1, 5000).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT = %d, %v", n, err)
	}
	began := time.Now()
	r.Nodes[m].Kill()
	ctx, cancel := context.WithTimeout(context.Background(), recoverTimeout)
	defer cancel()
	nm, err := r.WaitMasterOf(ctx, key, m)
	if err != nil || nm != m+3 {
		t.Fatalf("WaitMasterOf = %d, %v; want its replica %d", nm, err, m+3)
	}
	t.Logf("replica took over %v after the master was killed", time.Since(began).Round(time.Millisecond))
	eventually(t, recoverTimeout, "read the key through the cluster after the failover", func(ctx context.Context) error {
		v, err := c.Get(ctx, key).Result()
		if err == nil && v != "v1" {
			t.Fatalf("%s = %q after the failover, want v1", key, v)
		}
		if err != nil {
			// go-redis reloads the slot map on MOVED, not when a node
			// is gone (only every minute).
			c.ReloadState(ctx)
		}
		return err
	})
	if err := r.Nodes[m].Restart(); err != nil {
		t.Fatal(err)
	}
	if err := r.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := r.MasterOf(ctx, key); err != nil || got != nm {
		t.Fatalf("MasterOf after the old master came back = %d, %v; want %d", got, err, nm)
	}
}

// TestConsulCluster: three servers elect a leader that the agent reaches;
// the leader killed, the two others elect another and the agent still
// serves writes; the old leader comes back as a voter.
func TestConsulCluster(t *testing.T) {
	c := testserver.StartConsulCluster(t, 3)
	if len(c.Nodes) != 3 || c.Agent == nil {
		t.Fatalf("%d servers, agent %v", len(c.Nodes), c.Agent)
	}
	leader := waitLeader(t, c.Cluster)
	cfg := api.DefaultConfig()
	cfg.Address = c.Agent.Addr
	cli, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := uniqueKey(t)
	if _, err := cli.KV().Put(&api.KVPair{Key: key, Value: []byte("v1")}, (&api.WriteOptions{}).WithContext(opCtx(t, opTimeout))); err != nil {
		t.Fatal(err)
	}
	c.Nodes[leader].Kill()
	waitLeader(t, c.Cluster, leader)
	ctx, cancel := context.WithTimeout(context.Background(), recoverTimeout)
	defer cancel()
	eventually(t, recoverTimeout, "consistent read and write through the agent after the leader was killed", func(ctx context.Context) error {
		if _, err := cli.KV().Put(&api.KVPair{Key: key + "-2", Value: []byte("v2")}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
			return err
		}
		kv, _, err := cli.KV().Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
		if err == nil && (kv == nil || string(kv.Value) != "v1") {
			t.Fatalf("%s = %v after the leader was killed, want v1", key, kv)
		}
		return err
	})
	if err := c.Nodes[leader].Restart(); err != nil {
		t.Fatal(err)
	}
	// Back as a voter: the datacenter survives the loss of any one server again.
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}
