// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	consul "github.com/hashicorp/consul/api"
	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/toozgo/tooz/internal/testserver"
)

// Deadlines of the tests: short for requests that must fail against a
// paused server, generous for recovery on a loaded 2-core machine.
const (
	opTimeout      = 5 * time.Second
	pausedTimeout  = 300 * time.Millisecond
	recoverTimeout = 30 * time.Second
)

var keySeq atomic.Int64

// uniqueKey returns a key name no other test (or test run) uses.
func uniqueKey(t *testing.T) string {
	return fmt.Sprintf("tooz-%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano(), keySeq.Add(1))
}

// eventually polls f every 50ms until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	began := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			t.Logf("%s after %v", what, time.Since(began).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

func opCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// --- Redis -------------------------------------------------------------------

func newRedis(t *testing.T, srv *testserver.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  srv.Addr,
		DialTimeout:           2 * time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedis(t *testing.T) {
	srv := testserver.StartRedis(t)
	c := newRedis(t, srv)
	key := uniqueKey(t)
	if err := c.Set(opCtx(t, opTimeout), key, "v1", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if v, err := c.Get(opCtx(t, opTimeout), key).Result(); err != nil || v != "v1" {
		t.Fatalf("GET = %q, %v; want v1", v, err)
	}

	srv.Pause()
	if err := c.Get(opCtx(t, pausedTimeout), key).Err(); err == nil {
		t.Fatal("GET against a paused Redis succeeded")
	} else {
		t.Logf("GET while paused: %v", err)
	}
	srv.Resume()
	eventually(t, recoverTimeout, "GET after Resume", func(ctx context.Context) error {
		v, err := c.Get(ctx, key).Result()
		if err == nil && v != "v1" {
			return fmt.Errorf("got %q", v)
		}
		return err
	})

	srv.Kill()
	if srv.Running() {
		t.Fatal("Running after Kill")
	}
	if err := c.Ping(opCtx(t, pausedTimeout)).Err(); err == nil {
		t.Fatal("PING against a killed Redis succeeded")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// No persistence: the server is back, empty.
	eventually(t, recoverTimeout, "PING after Restart", func(ctx context.Context) error {
		return c.Ping(ctx).Err()
	})
	if err := c.Get(opCtx(t, opTimeout), key).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after restart without persistence = %v, want redis.Nil", err)
	}
}

func TestRedisAOFKeepsDataOverKill(t *testing.T) {
	srv := testserver.StartRedis(t, testserver.WithPersistence())
	c := newRedis(t, srv)
	key := uniqueKey(t)
	if err := c.Set(opCtx(t, opTimeout), key, "kept", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	srv.Kill()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, recoverTimeout, "GET after Kill+Restart", func(ctx context.Context) error {
		v, err := c.Get(ctx, key).Result()
		if err == nil && v != "kept" {
			return fmt.Errorf("got %q", v)
		}
		return err
	})
}

// --- etcd --------------------------------------------------------------------

func newEtcd(t *testing.T, srv *testserver.Server) *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{srv.Addr},
		DialTimeout: 5 * time.Second,
		Logger:      nil,
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func etcdGet(ctx context.Context, c *clientv3.Client, key, want string) error {
	resp, err := c.Get(ctx, key)
	if err != nil {
		return err
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != want {
		return fmt.Errorf("get %s = %v, want %q", key, resp.Kvs, want)
	}
	return nil
}

func testEtcd(t *testing.T, opts ...testserver.Option) {
	srv := testserver.StartEtcd(t, opts...)
	c := newEtcd(t, srv)
	key := uniqueKey(t)
	if _, err := c.Put(opCtx(t, opTimeout), key, "v1"); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := etcdGet(opCtx(t, opTimeout), c, key, "v1"); err != nil {
		t.Fatal(err)
	}
	status, err := c.Status(opCtx(t, opTimeout), srv.Addr)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	t.Logf("etcd server version %s", status.Version)

	srv.Pause()
	if err := etcdGet(opCtx(t, pausedTimeout), c, key, "v1"); err == nil {
		t.Fatal("get against a paused etcd succeeded")
	} else {
		t.Logf("get while paused: %v", err)
	}
	srv.Resume()
	eventually(t, recoverTimeout, "get after Resume", func(ctx context.Context) error {
		return etcdGet(ctx, c, key, "v1")
	})

	srv.Kill()
	if err := etcdGet(opCtx(t, pausedTimeout), c, key, "v1"); err == nil {
		t.Fatal("get against a killed etcd succeeded")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, recoverTimeout, "get of the old key after Kill+Restart", func(ctx context.Context) error {
		return etcdGet(ctx, c, key, "v1")
	})

	// A graceful Stop and Restart keep the data too.
	srv.Stop()
	if srv.Running() {
		t.Fatal("Running after Stop")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, recoverTimeout, "get after Stop+Restart", func(ctx context.Context) error {
		return etcdGet(ctx, c, key, "v1")
	})
}

func TestEtcd(t *testing.T) {
	testEtcd(t, testserver.WithNoFsync())
}

func TestEtcd34(t *testing.T) {
	testEtcd(t, testserver.WithEtcd34())
}

// --- ZooKeeper ---------------------------------------------------------------

func newZK(t *testing.T, srv *testserver.Server, sessionTimeout time.Duration) *zk.Conn {
	c, _, err := zk.Connect([]string{srv.Addr}, sessionTimeout, zk.WithLogInfo(false))
	if err != nil {
		t.Fatalf("zk connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// zkGet runs Get with a deadline: the zk client has no contexts, so a Get
// that does not answer in time is left to finish in the background.
func zkGet(ctx context.Context, c *zk.Conn, path, want string) error {
	type result struct {
		data []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		data, _, err := c.Get(path)
		ch <- result{data, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return r.err
		}
		if !bytes.Equal(r.data, []byte(want)) {
			return fmt.Errorf("get %s = %q, want %q", path, r.data, want)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestZooKeeper(t *testing.T) {
	srv := testserver.StartZooKeeper(t)
	c := newZK(t, srv, 10*time.Second)
	path := "/" + uniqueKey(t)
	created := make(chan error, 1)
	go func() {
		_, err := c.Create(path, []byte("v1"), 0, zk.WorldACL(zk.PermAll))
		created <- err
	}()
	select {
	case err := <-created:
		if err != nil {
			t.Fatalf("create: %v", err)
		}
	case <-time.After(opTimeout):
		t.Fatal("create did not answer")
	}
	if err := zkGet(opCtx(t, opTimeout), c, path, "v1"); err != nil {
		t.Fatal(err)
	}

	srv.Pause()
	if err := zkGet(opCtx(t, pausedTimeout), c, path, "v1"); err == nil {
		t.Fatal("get against a paused ZooKeeper succeeded")
	} else {
		t.Logf("get while paused: %v", err)
	}
	srv.Resume()
	eventually(t, recoverTimeout, "get after Resume", func(ctx context.Context) error {
		return zkGet(ctx, c, path, "v1")
	})

	srv.Kill()
	if err := zkGet(opCtx(t, pausedTimeout), c, path, "v1"); err == nil {
		t.Fatal("get against a killed ZooKeeper succeeded")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, recoverTimeout, "get of the old node after Kill+Restart", func(ctx context.Context) error {
		return zkGet(ctx, c, path, "v1")
	})
}

func TestZooKeeperShortSession(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	c := newZK(t, srv, time.Second)
	eventually(t, recoverTimeout, "session with a 1s timeout", func(ctx context.Context) error {
		if c.State() != zk.StateHasSession {
			return fmt.Errorf("state %v", c.State())
		}
		return nil
	})
	if got := c.SessionID(); got == 0 {
		t.Fatal("no session id")
	}
}

// --- Consul ------------------------------------------------------------------

func newConsul(t *testing.T, srv *testserver.Server) *consul.Client {
	cfg := consul.DefaultConfig()
	cfg.Address = srv.Addr
	c, err := consul.NewClient(cfg)
	if err != nil {
		t.Fatalf("consul client: %v", err)
	}
	return c
}

func consulGet(ctx context.Context, c *consul.Client, key, want string) error {
	kv, _, err := c.KV().Get(key, (&consul.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if kv == nil || string(kv.Value) != want {
		return fmt.Errorf("get %s = %v, want %q", key, kv, want)
	}
	return nil
}

func TestConsul(t *testing.T) {
	srv := testserver.StartConsul(t, testserver.WithPersistence())
	c := newConsul(t, srv)
	key := uniqueKey(t)
	if _, err := c.KV().Put(&consul.KVPair{Key: key, Value: []byte("v1")}, (&consul.WriteOptions{}).WithContext(opCtx(t, opTimeout))); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := consulGet(opCtx(t, opTimeout), c, key, "v1"); err != nil {
		t.Fatal(err)
	}
	// session_ttl_min is 1s: a 1s TTL session is accepted.
	id, _, err := c.Session().Create(&consul.SessionEntry{TTL: "1s", LockDelay: 10 * time.Millisecond},
		(&consul.WriteOptions{}).WithContext(opCtx(t, opTimeout)))
	if err != nil {
		t.Fatalf("session with TTL 1s: %v", err)
	}
	t.Logf("session %s", id)

	srv.Pause()
	if err := consulGet(opCtx(t, pausedTimeout), c, key, "v1"); err == nil {
		t.Fatal("get against a paused Consul succeeded")
	} else {
		t.Logf("get while paused: %v", err)
	}
	srv.Resume()
	eventually(t, recoverTimeout, "get after Resume", func(ctx context.Context) error {
		return consulGet(ctx, c, key, "v1")
	})

	srv.Kill()
	if err := consulGet(opCtx(t, pausedTimeout), c, key, "v1"); err == nil {
		t.Fatal("get against a killed Consul succeeded")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, recoverTimeout, "get of the old key after Kill+Restart", func(ctx context.Context) error {
		return consulGet(ctx, c, key, "v1")
	})
}

// The default -dev agent serves again after Kill+Restart, but empty.
func TestConsulDev(t *testing.T) {
	srv := testserver.StartConsul(t)
	c := newConsul(t, srv)
	key := uniqueKey(t)
	if _, err := c.KV().Put(&consul.KVPair{Key: key, Value: []byte("dev")}, (&consul.WriteOptions{}).WithContext(opCtx(t, opTimeout))); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := consulGet(opCtx(t, opTimeout), c, key, "dev"); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, recoverTimeout, "get (of nothing) after Kill+Restart", func(ctx context.Context) error {
		kv, _, err := c.KV().Get(key, (&consul.QueryOptions{}).WithContext(ctx))
		if err == nil && kv != nil {
			return fmt.Errorf("the in-memory agent kept %s", key)
		}
		return err
	})
}

// --- package behaviour -------------------------------------------------------

func TestServersAreIndependent(t *testing.T) {
	a := testserver.StartRedis(t)
	b := testserver.StartRedis(t)
	if a.Addr == b.Addr || a.DataDir == b.DataDir || a.LogPath == b.LogPath {
		t.Fatalf("two servers share an address or directory: %+v %+v", a, b)
	}
	ca, cb := newRedis(t, a), newRedis(t, b)
	key := uniqueKey(t)
	if err := ca.Set(opCtx(t, opTimeout), key, "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cb.Get(opCtx(t, opTimeout), key).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("second server sees the first one's key: %v", err)
	}
	if _, err := os.Stat(a.LogPath); err != nil {
		t.Fatalf("log: %v", err)
	}
}

func TestConcurrentControl(t *testing.T) {
	srv := testserver.StartRedis(t)
	c := newRedis(t, srv)
	done := make(chan error, 1)
	go func() { // lifecycle calls from another goroutine
		srv.Pause()
		srv.Resume()
		srv.Kill()
		done <- srv.Restart()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(recoverTimeout):
		t.Fatal("lifecycle calls from a goroutine did not finish")
	}
	eventually(t, recoverTimeout, "PING after restart from a goroutine", func(ctx context.Context) error {
		return c.Ping(ctx).Err()
	})
}

// The versions the code looks for must be the ones tools/ builds.
func TestVersionsMatchTools(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for _, c := range []struct{ gomod, module, version string }{
		{"tools/etcd/go.mod", "go.etcd.io/etcd/server/v3", "v" + testserver.EtcdVersion},
		{"tools/consul/go.mod", "github.com/hashicorp/consul", "v" + testserver.ConsulVersion},
		{"tools/kube-apiserver/go.mod", "k8s.io/kubernetes", "v" + testserver.KubeVersion},
	} {
		data, err := os.ReadFile(filepath.Join(root, c.gomod))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), c.module+" "+c.version+"\n") {
			t.Errorf("%s does not require %s %s", c.gomod, c.module, c.version)
		}
	}
}
