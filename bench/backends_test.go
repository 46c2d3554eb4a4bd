// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/hashicorp/consul/api"
	goredis "github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz/internal/testserver"
)

// locker is one contender of a lock recipe: tooz's or a raw client's.
type locker interface {
	Lock(ctx context.Context) error
	Unlock(ctx context.Context) error
}

type lockFuncs struct{ lock, unlock func(context.Context) error }

func (l lockFuncs) Lock(ctx context.Context) error   { return l.lock(ctx) }
func (l lockFuncs) Unlock(ctx context.Context) error { return l.unlock(ctx) }

// target is one backend under test: how to reach it with tooz and with its
// own raw client.
type target struct {
	name string
	// url is the tooz URL (the namespace is set with tooz.WithNamespace);
	// urlAt gives it for another address (a counting proxy's), proto names
	// the framing the proxy counts requests in ("" for no proxy).
	url   string
	addr  string
	urlAt func(addr string) string
	proto string
	// floorName names the raw round trip; floor runs one (nil: none).
	floorName string
	floor     func(ctx context.Context) error
	// rawName names the raw lock recipe; rawLocker makes one contender on
	// its own connection to addr (the server's, or a proxy's) for the lock
	// called name.
	rawName   string
	rawLocker func(t testing.TB, addr, name string) locker
	// settings describes the server: fsync, tmpfs or disk, TTLs.
	settings string
	// livenessBar is how long after a crash the liveness must end at the
	// latest, by design, for a liveness timeout d.
	livenessBar func(d time.Duration) time.Duration
	// crashable: Abandon frees ownerships only after the timeout (not the
	// memory and file backends, where it makes no sense or frees at once).
	crashable bool
	// local: the raw recipe is a bare system call or mutex, not a round
	// trip, so the ratio bars do not apply.
	local bool
	// maxList caps the listing test (0: no cap); abandonTTL is the liveness
	// timeout of the members added for it, which must outlive the filling.
	maxList    int
	abandonTTL time.Duration
	// server is the backend's server process (nil for file and memory),
	// whose CPU time the scale benchmarks read.
	server *testserver.Server
}

// dataNote says where a server's data lives: the file system type of dir.
func dataNote(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "data in " + dir
	}
	fs := "disk"
	if st.Type == unix.TMPFS_MAGIC {
		fs = "tmpfs"
	}
	return fmt.Sprintf("data on %s (%s)", fs, filepath.Dir(dir))
}

func once(d time.Duration) time.Duration { return d }

// The raw clients, closed when the test ends.

func etcdClient(t testing.TB, addr string) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func consulClient(t testing.TB, addr string) *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cli, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// rawSession makes the Consul session of a raw recipe (TTL 10 s, deleted
// with its keys, no lock delay) and renews it until the test ends: api.Lock
// and api.Semaphore do not renew a session they did not create.
func rawSession(t testing.TB, c *api.Client) string {
	id, _, err := c.Session().Create(&api.SessionEntry{TTL: "10s", Behavior: api.SessionBehaviorDelete, LockDelay: time.Nanosecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Session().RenewPeriodic("10s", id, nil, done) }()
	t.Cleanup(func() { close(done); _, _ = c.Session().Destroy(id, nil) })
	return id
}

func zkConn(t testing.TB, addr string) *zk.Conn {
	z, ev, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for z.State() != zk.StateHasSession {
		select {
		case <-ev:
		case <-deadline:
			t.Fatal("zookeeper: no session")
		}
	}
	t.Cleanup(z.Close)
	return z
}

func redisClient(t testing.TB, addr string) *goredis.Client {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func etcdTarget(t *testing.T) *target {
	s := testserver.StartEtcd(t)
	cli := etcdClient(t, s.Addr)
	return &target{
		server:    s,
		name:      "etcd",
		url:       "etcd://" + s.Addr,
		addr:      s.Addr,
		urlAt:     func(a string) string { return "etcd://" + a },
		proto:     "h2",
		floorName: "Get",
		floor: func(ctx context.Context) error {
			_, err := cli.Get(ctx, "/floor")
			return err
		},
		rawName: "concurrency.Mutex",
		rawLocker: func(t testing.TB, addr, name string) locker {
			sess, err := concurrency.NewSession(etcdClient(t, addr), concurrency.WithTTL(10))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sess.Close() })
			m := concurrency.NewMutex(sess, "/raw/"+name)
			return lockFuncs{m.Lock, m.Unlock}
		},
		settings:    fmt.Sprintf("etcd %s, single member, fsync on, %s; raw session TTL 10 s.", testserver.EtcdVersion, dataNote(s.DataDir)),
		livenessBar: once,
		crashable:   true,
	}
}

func consulTarget(t *testing.T) *target {
	// The 1,000 members of the scale test are 1,000 HTTP clients: lift the
	// default of 200 connections per client address.
	s := testserver.StartConsul(t, testserver.WithArgs("-hcl", "limits { http_max_conns_per_client = 10000 }"))
	cli := consulClient(t, s.Addr)
	return &target{
		server:    s,
		name:      "consul",
		url:       "consul://" + s.Addr,
		addr:      s.Addr,
		urlAt:     func(a string) string { return "consul://" + a },
		proto:     "http",
		floorName: "KV.Get",
		floor: func(ctx context.Context) error {
			_, _, err := cli.KV().Get("floor", (&api.QueryOptions{}).WithContext(ctx))
			return err
		},
		rawName: "api.Lock (one session)",
		rawLocker: func(t testing.TB, addr, name string) locker {
			c := consulClient(t, addr)
			l, err := c.LockOpts(&api.LockOptions{Key: "raw/" + name, Session: rawSession(t, c)})
			if err != nil {
				t.Fatal(err)
			}
			return lockFuncs{
				lock: func(ctx context.Context) error {
					ch, err := l.Lock(ctx.Done())
					if err == nil && ch == nil {
						err = ctx.Err()
					}
					return err
				},
				unlock: func(context.Context) error { return l.Unlock() },
			}
		},
		settings:    fmt.Sprintf("Consul %s, `agent -dev` (Raft in memory, nothing on disk), session_ttl_min 1s; raw: api.Lock on one session made beforehand (TTL 10 s).", testserver.ConsulVersion),
		livenessBar: func(d time.Duration) time.Duration { return 2 * d },
		crashable:   true,
	}
}

func zkTarget(t *testing.T) *target {
	s := testserver.StartZooKeeper(t)
	z := zkConn(t, s.Addr)
	return &target{
		server:    s,
		name:      "zookeeper",
		url:       "zookeeper://" + s.Addr,
		addr:      s.Addr,
		urlAt:     func(a string) string { return "zookeeper://" + a },
		proto:     "zk",
		floorName: "Exists",
		floor: func(context.Context) error {
			_, _, err := z.Exists("/")
			return err
		},
		rawName: "zk.Lock",
		rawLocker: func(t testing.TB, addr, name string) locker {
			l := zk.NewLock(zkConn(t, addr), "/raw/"+name, zk.WorldACL(zk.PermAll))
			return lockFuncs{
				lock:   func(context.Context) error { return l.Lock() },
				unlock: func(context.Context) error { return l.Unlock() },
			}
		},
		settings:    fmt.Sprintf("ZooKeeper (Debian's), standalone, tickTime 100 ms, forceSync on (fsync), %s; raw session timeout 10 s.", dataNote(s.DataDir)),
		livenessBar: once,
		crashable:   true,
		abandonTTL:  5 * time.Minute, // within the test server's maxSessionTimeout (10 min)
	}
}

// rawRelease is the usual compare-and-delete release of the raw Redis recipe.
var rawRelease = goredis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

func redisTarget(t *testing.T) *target {
	s := testserver.StartRedis(t)
	rdb := redisClient(t, s.Addr)
	var seq sync.Mutex
	n := 0
	token := func() string {
		seq.Lock()
		defer seq.Unlock()
		n++
		return fmt.Sprintf("tok-%d", n)
	}
	return &target{
		server:    s,
		name:      "redis",
		url:       "redis://" + s.Addr + "/0",
		addr:      s.Addr,
		urlAt:     func(a string) string { return "redis://" + a + "/0" },
		proto:     "redis",
		floorName: "GET",
		floor: func(ctx context.Context) error {
			err := rdb.Get(ctx, "floor").Err()
			if errors.Is(err, goredis.Nil) {
				err = nil
			}
			return err
		},
		rawName: "SET NX PX + Lua release (waiters retry every 1 ms)",
		rawLocker: func(t testing.TB, addr, name string) locker {
			c := redisClient(t, addr)
			key := "raw:" + name
			var tok string
			return lockFuncs{
				lock: func(ctx context.Context) error {
					tok = token()
					for {
						ok, err := c.SetNX(ctx, key, tok, 10*time.Second).Result()
						if err != nil || ok {
							return err
						}
						select {
						case <-ctx.Done():
							return ctx.Err()
						case <-time.After(time.Millisecond):
						}
					}
				},
				unlock: func(ctx context.Context) error {
					return rawRelease.Run(ctx, c, []string{key}, tok).Err()
				},
			}
		},
		settings:    "Redis (Debian's), no persistence (no AOF, no RDB): memory only; raw lock TTL 10 s.",
		livenessBar: once,
		crashable:   true,
	}
}

func fileTarget(t *testing.T) *target {
	dir := t.TempDir()
	return &target{
		name:      "file",
		url:       "file://" + dir,
		floorName: "stat",
		floor: func(context.Context) error {
			_, err := os.Stat(dir)
			return err
		},
		rawName: "flock on a file kept open",
		rawLocker: func(t testing.TB, addr, name string) locker {
			fd, err := unix.Open(filepath.Join(dir, "raw-"+name), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o666)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = unix.Close(fd) })
			return lockFuncs{
				lock:   func(context.Context) error { return unix.Flock(fd, unix.LOCK_EX) },
				unlock: func(context.Context) error { return unix.Flock(fd, unix.LOCK_UN) },
			}
		},
		settings:    "file:// driver in " + dataNote(dir) + "; raw: flock(2) LOCK_EX/LOCK_UN.",
		livenessBar: once,
		// Abandoned coordinators' members are dead at once (their flock
		// went with them), so they cannot pad the listed group; the storm
		// subtest runs beside 10,000 abandoned sessions instead.
		maxList: 1000,
		local:   true,
	}
}

func memoryTarget(t *testing.T) *target {
	var mu sync.Mutex
	locks := map[string]*sync.Mutex{}
	return &target{
		name:    "memory",
		url:     "memory://" + unique("bench"),
		rawName: "sync.Mutex",
		rawLocker: func(_ testing.TB, _, name string) locker {
			mu.Lock()
			m, ok := locks[name]
			if !ok {
				m = &sync.Mutex{}
				locks[name] = m
			}
			mu.Unlock()
			return lockFuncs{
				lock:   func(context.Context) error { m.Lock(); return nil },
				unlock: func(context.Context) error { m.Unlock(); return nil },
			}
		},
		settings:    "memory:// driver, in-process; raw: sync.Mutex.",
		livenessBar: once,
		maxList:     1000,
		local:       true,
	}
}
