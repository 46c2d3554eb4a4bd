// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	consul "github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz/internal/netlab"
	"github.com/toozgo/tooz/internal/testserver"
)

// writeRead is one write and read back of a fresh key, against one backend.
type writeRead func(ctx context.Context, n int) error

// testInHost runs a server inside a netlab host and checks that the test
// process reaches it over the lab (Addr is the host's address), that a cut
// of the host cuts the server off and Heal brings it back, and that Kill and
// Restart still work on the namespaced process.
func testInHost(t *testing.T, start func(t *testing.T, h *netlab.Host) (*testserver.Server, writeRead)) {
	lab := netlab.New(t)
	h := lab.AddHost("server")
	srv, op := start(t, h)
	if host, _, err := net.SplitHostPort(srv.Addr); err != nil || host != h.IP {
		t.Fatalf("Addr %s, want the host's address %s", srv.Addr, h.IP)
	}
	n := 0
	next := func() int { n++; return n }
	if err := op(opCtx(t, opTimeout), next()); err != nil {
		t.Fatalf("before the cut: %v", err)
	}

	if err := h.Cut(opCtx(t, opTimeout)); err != nil {
		t.Fatal(err)
	}
	if err := op(opCtx(t, pausedTimeout), next()); err == nil {
		t.Fatal("a request reached a server whose host is cut")
	} else {
		t.Logf("during the cut: %v", err)
	}
	if err := h.Heal(opCtx(t, opTimeout)); err != nil {
		t.Fatal(err)
	}
	eventually(t, recoverTimeout, "write+read after Heal", func(ctx context.Context) error { return op(ctx, next()) })

	srv.Kill()
	if srv.Running() {
		t.Fatal("Running after Kill")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, recoverTimeout, "write+read after Restart", func(ctx context.Context) error { return op(ctx, next()) })
}

func TestRedisInHost(t *testing.T) {
	testInHost(t, func(t *testing.T, h *netlab.Host) (*testserver.Server, writeRead) {
		srv := testserver.StartRedis(t, testserver.InHost(h))
		c := newRedis(t, srv)
		base := uniqueKey(t)
		// Pause and Resume act on the namespaced process too.
		srv.Pause()
		if err := c.Ping(opCtx(t, pausedTimeout)).Err(); err == nil {
			t.Fatal("PING against a paused Redis succeeded")
		}
		srv.Resume()
		return srv, func(ctx context.Context, n int) error {
			key := base + strconv.Itoa(n)
			if err := c.Set(ctx, key, "v", 0).Err(); err != nil {
				return err
			}
			return c.Get(ctx, key).Err()
		}
	})
}

func TestEtcdInHost(t *testing.T) {
	testInHost(t, func(t *testing.T, h *netlab.Host) (*testserver.Server, writeRead) {
		srv := testserver.StartEtcd(t, testserver.InHost(h), testserver.WithNoFsync())
		c := newEtcd(t, srv)
		base := uniqueKey(t)
		return srv, func(ctx context.Context, n int) error {
			key := base + strconv.Itoa(n)
			if _, err := c.Put(ctx, key, "v"); err != nil {
				return err
			}
			return etcdGet(ctx, c, key, "v")
		}
	})
}

func TestZooKeeperInHost(t *testing.T) {
	testInHost(t, func(t *testing.T, h *netlab.Host) (*testserver.Server, writeRead) {
		srv := testserver.StartZooKeeper(t, testserver.InHost(h), testserver.WithNoFsync())
		c := newZK(t, srv, 10*time.Second)
		base := "/" + uniqueKey(t)
		return srv, func(ctx context.Context, n int) error {
			path := base + strconv.Itoa(n)
			// The zk client has no contexts: a create that does not answer
			// in time finishes in the background.
			errc := make(chan error, 1)
			go func() {
				_, err := c.Create(path, []byte("v"), 0, zk.WorldACL(zk.PermAll))
				errc <- err
			}()
			select {
			case err := <-errc:
				if err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			return zkGet(ctx, c, path, "v")
		}
	})
}

func TestConsulInHost(t *testing.T) {
	testInHost(t, func(t *testing.T, h *netlab.Host) (*testserver.Server, writeRead) {
		srv := testserver.StartConsul(t, testserver.InHost(h))
		c := newConsul(t, srv)
		base := uniqueKey(t)
		return srv, func(ctx context.Context, n int) error {
			key := base + strconv.Itoa(n)
			if _, err := c.KV().Put(&consul.KVPair{Key: key, Value: []byte("v")}, (&consul.WriteOptions{}).WithContext(ctx)); err != nil {
				return err
			}
			return consulGet(ctx, c, key, "v")
		}
	})
}
