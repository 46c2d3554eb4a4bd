// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package etcd registers the "etcd" and "etcd+https" drivers: coordination
// through an etcd v3 cluster (3.4 or later) with go.etcd.io/etcd/client/v3.
//
//	c, err := tooz.Open(ctx, "etcd://10.0.0.1:2379,10.0.0.2:2379?namespace=billing", "worker-7")
//	c, err := tooz.Open(ctx, "etcd+https://user:secret@etcd.example:2379?ca=/etc/ssl/etcd-ca.pem", "worker-7")
//
// URL options, beside the common "timeout" (member liveness: the lease TTL,
// default 10s, rounded up to whole seconds on the server; Open refuses one
// under 1s or under the server's minimum lease TTL) and "namespace"
// (key prefix, default "tooz"):
//
//   - ca: PEM file of the certificate authorities to trust (etcd+https only;
//     default: the system's roots).
//   - cert, key: PEM files of a client certificate and its key, for etcd's
//     client-certificate authentication (etcd+https only; both or neither).
//   - dial_timeout: how long Open waits for the cluster (default 5s).
//   - lock_ttl: the lease TTL of locks, when it must differ from "timeout".
//     Such locks hang on a second lease, renewed by the same heartbeat.
//
// User name and password come from the URL's userinfo and are sent to
// etcd's authentication; they never appear in errors or logs.
//
// # Data model
//
// Every key lives under the escaped namespace N:
//
//	N/groups/G           a group (no lease; exists until deleted)
//	N/members/G/M        a membership: internal/record value, on the coordinator's lease
//	N/locks/L/C          a lock contender C; value: its member ID; on the lease
//	N/elections/G/C      a candidate for G's leadership, likewise
//	N/semaphores/S/C     a semaphore contender; value: its share and member ID; on the lease
//	N/rwlocks/L/C        a read/write lock contender, likewise (see shared.go)
//	N/kv/K               key K of the key/value namespace: its value as is, its mod
//	                     revision as its revision, on the lease when ephemeral (kv.go)
//
// with group, member and lock names escaped by internal/keyspace. A
// coordinator holds one lease, kept alive by one KeepAliveOnce per
// heartbeat (never by the client's background keep-alive, so that a process
// that stops heartbeating really loses its lease). Group operations are
// transactions guarded on the group's and the member's keys. A lock or
// election is a queue of contender keys ordered by create revision: the
// oldest owns the resource, and its create revision is the fencing token.
// Each waiter watches only its predecessor, from the current revision, and
// re-reads after its watch is in place — never from a past revision, which
// would put the watcher in etcd's "unsynced" set and cost ~100 ms per
// hand-over, as concurrency.Mutex does. An uncontended Acquire is one
// transaction (create the key, read the queue's head), Release one delete;
// TryAcquire of a held lock is one transaction that writes nothing.
//
// # Failures
//
// When the server no longer knows the lease (it expired while the process
// was paused or cut off), the next Heartbeat ends every ownership, grants a
// new lease and reports tooz.ErrSessionLost, and the Coordinator re-joins
// its groups; a dead lease is never renewed or reused. A group watch that
// breaks (compacted revision, lost leader, server restart) lists the group
// again and resets its sink. A contender key whose deletion failed (Release
// or a withdrawal during an outage) is deleted by the next successful
// heartbeat, so a lock given up while etcd was unreachable is not held on by
// a lease that lives on. gRPC's reconnection back-off is capped at a quarter
// of the timeout so that, after an etcd restart (which renews every lease
// for a full TTL), coordinators are back before their leases expire.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/tlsfiles"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// DefaultPort is the port used for a host given without one.
const DefaultPort = "2379"

// DefaultDialTimeout is how long Open waits for the cluster when the URL
// has no dial_timeout.
const DefaultDialTimeout = 5 * time.Second

// URL options of the etcd driver.
const (
	optCA          = "ca"
	optCert        = "cert"
	optKey         = "key"
	optDialTimeout = "dial_timeout"
	optLockTTL     = "lock_ttl"
)

func init() {
	tooz.Register("etcd", &driver{})
	tooz.Register("etcd+https", &driver{tls: true})
}

// driver opens etcd coordinators; tls selects https endpoints.
type driver struct {
	tls bool
}

// Options implements tooz.Driver.
func (d *driver) Options() []string {
	return []string{optCA, optCert, optKey, optDialTimeout, optLockTTL}
}

// settings is what Open derives from the Config before any I/O.
type settings struct {
	endpoints   []string
	tls         *tls.Config
	user, pass  string
	dialTimeout time.Duration
	lockTTL     time.Duration // 0: locks use the coordinator's lease
}

// parse validates the Config. Every error wraps tooz.ErrInvalidURL.
func (d *driver) parse(cfg tooz.Config) (settings, error) {
	var s settings
	if p := cfg.URL.Path; p != "" && p != "/" {
		return s, fmt.Errorf("%w: etcd URLs take no path (got %q); use the namespace option", tooz.ErrInvalidURL, p)
	}
	if cfg.URL.Opaque != "" {
		return s, fmt.Errorf("%w: want etcd://host:port", tooz.ErrInvalidURL)
	}
	var err error
	if s.dialTimeout, err = cfg.Duration(optDialTimeout, DefaultDialTimeout); err != nil {
		return s, err
	}
	if s.lockTTL, err = cfg.Duration(optLockTTL, 0); err != nil {
		return s, err
	}
	if s.lockTTL > 0 && ttlSeconds(s.lockTTL) == ttlSeconds(cfg.Timeout) {
		s.lockTTL = 0 // the same lease serves
	}
	if u := cfg.URL.User; u != nil {
		s.user = u.Username()
		s.pass, _ = u.Password()
		if s.user == "" || s.pass == "" {
			return s, fmt.Errorf("%w: give both a user name and a password (user:password@host), or neither", tooz.ErrInvalidURL)
		}
	}
	ca, cert, key := cfg.Options[optCA], cfg.Options[optCert], cfg.Options[optKey]
	if !d.tls && (ca != "" || cert != "" || key != "") {
		return s, fmt.Errorf("%w: options ca, cert and key need the etcd+https scheme", tooz.ErrInvalidURL)
	}
	if (cert == "") != (key == "") {
		return s, fmt.Errorf("%w: options cert and key go together", tooz.ErrInvalidURL)
	}
	scheme := "http://"
	if d.tls {
		scheme = "https://"
		if s.tls, err = tlsfiles.Load(ca, cert, key); err != nil {
			return s, err
		}
	}
	hosts := cfg.Hosts
	if len(hosts) == 0 {
		hosts = []string{"localhost"}
	}
	for _, h := range hosts {
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), DefaultPort)
		}
		s.endpoints = append(s.endpoints, scheme+h)
	}
	return s, nil
}

// ttlSeconds is the lease TTL etcd is asked for: d rounded up to whole
// seconds, at least one.
func ttlSeconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}

// Open implements tooz.Driver: it connects and grants the coordinator's lease.
func (d *driver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	s, err := d.parse(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   s.endpoints,
		DialTimeout: s.dialTimeout,
		TLS:         s.tls,
		Username:    s.user,
		Password:    s.pass,
		Logger:      zapLogger(cfg.Logger, s.pass),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(reconnectParams(cfg.Timeout))},
		// A member that stops answering (frozen, or behind a firewall
		// that drops packets) keeps its TCP connection up, and the
		// balancer keeps sending it every third RPC, which then hangs
		// until its context ends. gRPC's keepalive closes such a
		// connection so that those RPCs fail over to the other members:
		// after 10s of silence (the shortest interval gRPC allows) and
		// one liveness timeout without an answer to the ping.
		DialKeepAliveTime:    keepAliveTime,
		DialKeepAliveTimeout: min(max(cfg.Timeout, time.Second), keepAliveTime),
	})
	if err != nil {
		return nil, openError(ctx, err, s)
	}
	return start(ctx, newConn(cli, cfg, s), s)
}

// start grants the coordinator's lease on c's client; when that fails it
// closes the client unless it is the application's.
func start(ctx context.Context, c *conn, s settings) (tooz.CoordinationDriver, error) {
	if c.timeout < time.Second {
		if !c.borrowed {
			c.cli.Close()
		}
		return nil, fmt.Errorf("%w: timeout %v: etcd leases last whole seconds; the shortest timeout is 1s", tooz.ErrInvalidURL, c.timeout)
	}
	gctx, cancel := context.WithTimeout(ctx, s.dialTimeout)
	defer cancel()
	l, err := c.grant(gctx, c.mainTTL)
	if err != nil {
		if !c.borrowed {
			c.cli.Close()
		}
		return nil, openError(ctx, err, s)
	}
	c.leases[c.mainTTL] = l
	if l.grantedTTL > l.ttl {
		// The server raised the TTL to its minimum (derived from its
		// election timeout): a crashed member would be freed later than
		// the timeout promises.
		err := fmt.Errorf("%w: timeout %v: this etcd's shortest lease TTL is %ds; use a timeout of at least %ds",
			tooz.ErrInvalidURL, c.timeout, l.grantedTTL, l.grantedTTL)
		cctx, cancel := driverkit.CleanupContext(ctx)
		defer cancel()
		_ = c.Close(cctx)
		return nil, err
	}
	return c, nil
}

// keepAliveTime is how long a connection to a member may stay silent
// before the client pings it: gRPC's minimum.
const keepAliveTime = 10 * time.Second

// reconnectParams bounds gRPC's reconnection back-off (120 s by default)
// by a quarter of the lease TTL: etcd renews every lease for a full TTL
// when it restarts, so a client that tries again that often is back with a
// keep-alive before its lease expires.
func reconnectParams(timeout time.Duration) grpc.ConnectParams {
	p := grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: 2 * time.Second}
	p.Backoff.BaseDelay = 100 * time.Millisecond
	p.Backoff.MaxDelay = min(max(timeout/4, 200*time.Millisecond), 5*time.Second)
	return p
}

// openError reports a failure to reach or authenticate to the cluster.
func openError(ctx context.Context, err error, s settings) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = translate(err)
	if errors.Is(err, tooz.ErrAuth) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: no answer from %s within dial_timeout %v", tooz.ErrConnection, strings.Join(s.endpoints, ","), s.dialTimeout)
	}
	if !errors.Is(err, tooz.ErrConnection) {
		err = fmt.Errorf("%w: %w", tooz.ErrConnection, err)
	}
	return err
}

// keys builds the driver's keys under the namespace.
type keys struct {
	ns string // escaped namespace followed by "/"
}

func (k keys) groupsPrefix() string      { return k.ns + "groups/" }
func (k keys) group(g string) string     { return k.groupsPrefix() + keyspace.Escape(g) }
func (k keys) membersOf(g string) string { return k.ns + "members/" + keyspace.Escape(g) + "/" }
func (k keys) member(g, m string) string { return k.membersOf(g) + keyspace.Escape(m) }
func (k keys) resource(r tooz.Resource) string {
	kind := "locks/"
	if r.Kind == tooz.KindElection {
		kind = "elections/"
	}
	return k.ns + kind + keyspace.Escape(r.Name) + "/"
}
