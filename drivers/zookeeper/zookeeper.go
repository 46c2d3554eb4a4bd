// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package zookeeper registers the "zookeeper" driver: coordination through
// Apache ZooKeeper (3.5 or later), with github.com/go-zookeeper/zk.
//
//	zookeeper://[user:password@]host[:2181][,host[:2181]...][/chroot][?namespace=tooz&timeout=10s]
//
// The port defaults to 2181. A path is a chroot: every znode the driver
// writes lives below it (it is created when missing). User and password
// are ZooKeeper digest credentials: the driver authenticates with them and
// creates its znodes readable and writable only by that identity
// (ZooKeeper's "auth" ACL), so a coordinator with other credentials gets
// tooz.ErrAuth. Options: namespace (default "tooz"; it prefixes every
// znode, so applications sharing a chroot do not see each other) and
// timeout (the ZooKeeper session timeout, default 10s; the server clamps it
// to its minSessionTimeout..maxSessionTimeout, 2..20 ticks by default: Open
// refuses a timeout under the minimum, and the driver logs a warning when
// a later session gets another timeout than asked).
//
// The scheme zookeeper+tls dials the servers' secureClientPort over TLS
// (ZooKeeper 3.5+ with the Netty connection factory), with the options ca
// (PEM file of the CA to trust instead of the system roots), cert and key
// (PEM client certificate and key, for ssl.clientAuth=need); the port still
// defaults to 2181, so give the secure one. A server certificate that does
// not verify for the host dialled is tooz.ErrConnection.
//
// # Layout
//
//	<chroot>/<ns>/groups/<group>             persistent: the group exists on its own
//	<chroot>/<ns>/groups/<group>/<member>    ephemeral; data = capabilities
//	<chroot>/<ns>/locks/<name>/c_<guid>_<seq>      ephemeral sequential; data = member ID
//	<chroot>/<ns>/elections/<group>/c_<guid>_<seq> ephemeral sequential; data = member ID
//	<chroot>/<ns>/semaphores/<name>/c_s<n>_<guid>_<seq>  ephemeral sequential; data = member ID (shared.go)
//	<chroot>/<ns>/rwlocks/<name>/c_<s0|x0>_<guid>_<seq>  likewise, shared or exclusive
//	<chroot>/<ns>/kv/<key>                   key/value namespace: data = value, mzxid = revision;
//	                                         ephemeral for an ephemeral key (kv.go)
//
// Every ID is escaped with internal/keyspace, so any valid UTF-8 (including
// "/", "." and "..", which ZooKeeper forbids as path segments) round-trips.
// The children of a group are its members and nothing else: contenders for
// the group's leadership live under elections/, so they neither show up as
// members nor stop the group from being deleted. Lock and election
// directories are container znodes, which ZooKeeper removes once empty.
//
// # Liveness
//
// Liveness is the ZooKeeper session: memberships, candidacies and lock
// contenders are ephemeral znodes of the coordinator's session. The client
// keeps the session alive with its own pings; Heartbeat checks it with one
// round trip. A lost connection only suspends the session: the client
// reconnects (to any host of the URL) and keeps its session, its ephemeral
// znodes and its watches, as long as it comes back within the session
// timeout. Ownerships are not given up while suspended (the Coordinator's
// own deadline ends them once no heartbeat succeeded for a timeout). When
// the server reports the session expired, every Ownership issued under it
// reports Lost at once, the driver never uses that session again, and the
// next Heartbeat opens a new session and returns an error wrapping
// tooz.ErrSessionLost, upon which the Coordinator re-joins its groups.
// The driver's SessionState method (see SessionStater) tells connected,
// suspended and lost apart.
//
// Unlike the etcd, Redis and Consul drivers, this one offers no Open that
// takes an application's own *zk.Conn: the session is the coordinator's
// liveness, so the driver must dial it itself (to see each connect
// response and tell a session moved, resumed or expired apart) and open a
// new one after an expiry, which a borrowed connection does not allow.
//
// Because the client pings by itself, a coordinator opened WithoutHeart
// would stay alive without ever beating: the driver implements
// tooz.SessionEnder, and the Coordinator closes the session once no
// Heartbeat succeeded within the timeout, as every other backend expires it.
//
// # Group watches
//
// Groups are followed with a persistent recursive watch (ZooKeeper 3.6+,
// AddWatch) on a connection and session of the watch's own (go-zookeeper
// cannot send AddWatch): it stays registered after it fires, so every
// join and leave is reported, however quick. A notification carries no
// data: the member's znode is read after it, on the same connection, so a
// join carries the capabilities it has when read, and quick successive
// updates may be reported as the last one. When that connection breaks,
// the watch connects anew and reports the group's state as a new listing.
// On a server without AddWatch the driver falls back to one-shot child
// watches (no capabilities in events, no updates; a join and leave between
// two listings can go unseen).
//
// Creates that may have reached the server before a connection loss are
// retried safely: member znodes are recognised by their session owner,
// contender znodes by a unique prefix (ZooKeeper's "protected" create).
//
// # Locks and elections
//
// Each Acquire creates an ephemeral sequential znode; the owner is the
// lowest sequence number, and each waiter watches only its predecessor.
// A waiter whose predecessor was the only lower znode becomes the owner
// as soon as that znode is deleted, without listing again. The fencing
// token is the owner znode's creation zxid, which strictly increases with
// every new owner of a name; the znode's stat is read in the same round
// trip as the first listing, so an uncontended lock costs the recipe's
// three round trips (create, list, delete).
//
// An owner whose znode is deleted out of band (its session alive) loses
// the ownership at once. The child watch that the winning listing set
// follows the owner while nothing else happens in the lock's directory;
// at its first event (a waiter arriving, or the deletion) the owner
// changes over to an exists watch on its own znode, which an owner that
// got the lock by hand-over has from the start. Neither costs a goroutine
// per ownership.
//
// # Events
//
// Membership events come from child watches. A child watch fires once and
// only says "changed", so after every firing, every reconnection and every
// new session the group is listed again (which re-arms the watch) and the
// difference is reported: several joins in one listing in the order their
// znodes were created, and a member that left and joined again between two
// listings (its znode is newer than the last listing; the group's child
// version counts the changes) as a leave and a join.
//
// # Consistency
//
// ZooKeeper orders every write in one linearizable history and guarantees
// each client a sequentially consistent view of it (its reads never go
// back in time, even across reconnections to another server), but a read
// served by a follower may lag behind writes other clients completed. The
// driver therefore issues a sync before the reads that report what other
// members did (Members, MemberInfo, Groups, Owner), so that each of them
// reflects every write completed before it began. It declares
// DistributedAcrossThreads, DistributedAcrossProcesses,
// DistributedAcrossHosts, Sequential and Causal. It does not declare
// Linearizable or SameViewAcrossClients: a ZooKeeper sync is not a quorum
// operation, so a server cut off from a new leader may still answer with
// stale data for a moment. Liveness is timeout based (a crashed member
// holds its znodes until its session times out), so NonTimeoutBased is not
// declared either.
package zookeeper

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
)

func init() {
	tooz.Register("zookeeper", driver{})
}

// defaultPort is ZooKeeper's client port.
const defaultPort = "2181"

// driver opens ZooKeeper coordinators.
type driver struct{}

// Options implements tooz.Driver: only the common options (namespace,
// timeout) are accepted.
func (driver) Options() []string { return nil }

// settings is what Open parsed out of the URL before any I/O.
type settings struct {
	hosts   []string
	chroot  string // "" or "/a/b"
	auth    []byte // "user:password" for the digest scheme; nil without credentials
	timeout time.Duration
}

// parse validates cfg without I/O. Errors wrap tooz.ErrInvalidURL.
func parse(cfg tooz.Config) (settings, error) {
	var s settings
	for k := range cfg.Options { // the core rejects them first; be safe
		return s, fmt.Errorf("%w: unknown option %q", tooz.ErrInvalidURL, k)
	}
	if len(cfg.Hosts) == 0 {
		return s, fmt.Errorf("%w: no host (want zookeeper://host:2181[,host...][/chroot])", tooz.ErrInvalidURL)
	}
	for _, h := range cfg.Hosts {
		host, port := h, defaultPort
		if hp, pp, err := net.SplitHostPort(h); err == nil {
			host, port = hp, pp
		} else if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
			return s, fmt.Errorf("%w: host %q: %v", tooz.ErrInvalidURL, h, err)
		} else {
			host = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		}
		if host == "" {
			return s, fmt.Errorf("%w: empty host name in %q", tooz.ErrInvalidURL, h)
		}
		if _, err := parsePort(port); err != nil {
			return s, fmt.Errorf("%w: host %q: bad port %q", tooz.ErrInvalidURL, h, port)
		}
		s.hosts = append(s.hosts, net.JoinHostPort(host, port))
	}
	chroot, err := parseChroot(cfg.URL)
	if err != nil {
		return s, err
	}
	s.chroot = chroot
	if u := cfg.URL.User; u != nil {
		name := u.Username()
		pw, _ := u.Password()
		if name == "" {
			return s, fmt.Errorf("%w: credentials without a user name", tooz.ErrInvalidURL)
		}
		if strings.Contains(name, ":") {
			return s, fmt.Errorf("%w: user name contains ':'", tooz.ErrInvalidURL)
		}
		s.auth = []byte(name + ":" + pw)
	}
	s.timeout = cfg.Timeout
	if ms := s.timeout.Milliseconds(); ms < 1 || ms > math.MaxInt32 {
		return s, fmt.Errorf("%w: timeout %v out of range for a ZooKeeper session", tooz.ErrInvalidURL, s.timeout)
	}
	return s, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strings.TrimLeft(p, "0123456789") != "" {
		return 0, errors.New("bad port")
	}
	return n, nil
}

// parseChroot returns the URL's path as a ZooKeeper path ("" for none).
func parseChroot(u *url.URL) (string, error) {
	p := strings.TrimSuffix(u.Path, "/")
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p[1:], "/") {
		switch {
		case seg == "":
			return "", fmt.Errorf("%w: chroot %q has an empty segment", tooz.ErrInvalidURL, u.Path)
		case seg == "." || seg == "..":
			return "", fmt.Errorf("%w: chroot %q has a %q segment", tooz.ErrInvalidURL, u.Path, seg)
		}
		for _, r := range seg {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0xf000 && r <= 0xf8ff) || (r >= 0xfff0 && r <= 0xffff) {
				return "", fmt.Errorf("%w: chroot %q holds a character ZooKeeper forbids (%U)", tooz.ErrInvalidURL, u.Path, r)
			}
		}
	}
	return p, nil
}

// Open implements tooz.Driver: it validates the URL, opens a ZooKeeper
// session, authenticates and makes sure the namespace's znodes exist.
func (driver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	return openConn(ctx, cfg, nil)
}

// openConn is Open, over TLS with tlsCfg when it is not nil.
func openConn(ctx context.Context, cfg tooz.Config, tlsCfg *tls.Config) (tooz.CoordinationDriver, error) {
	st, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	root := st.chroot + "/" + keyspace.Escape(cfg.Namespace)
	c := &conn{
		log:       cfg.Logger,
		member:    cfg.MemberID,
		hosts:     st.hosts,
		auth:      st.auth,
		timeout:   st.timeout,
		chroot:    st.chroot,
		root:      root,
		groups:    root + "/groups",
		locks:     root + "/locks",
		elections: root + "/elections",
		acl:       zk.WorldACL(zk.PermAll),
		tls:       tlsCfg,
		stateCh:   make(chan struct{}),
		watches:   map[*groupWatch]struct{}{},
		pwatches:  map[*pwatch]struct{}{},
	}
	if st.auth != nil {
		c.acl = zk.AuthACL(zk.PermAll)
	}
	c.containers.Store(true)
	s, err := c.newSession(ctx)
	if err != nil {
		return nil, err
	}
	if got := s.dial.negotiated(); got > c.timeout {
		// The server raised the session timeout to its minimum (2 ticks
		// unless minSessionTimeout says otherwise): a crashed member would
		// be freed later than the timeout promises.
		s.end(tooz.ErrClosed)
		s.closeZK()
		return nil, fmt.Errorf("%w: timeout %v: this ZooKeeper's shortest session timeout is %v (its minSessionTimeout); use at least that",
			tooz.ErrInvalidURL, c.timeout, got)
	}
	if err := c.setup(ctx, s); err != nil {
		s.end(tooz.ErrClosed)
		s.closeZK()
		return nil, err
	}
	c.mu.Lock()
	c.sess = s
	c.setStateLocked(StateConnected)
	c.mu.Unlock()
	return c, nil
}

// setup creates the namespace's znodes and checks that this identity may
// read them.
func (c *conn) setup(ctx context.Context, s *session) error {
	for _, p := range []string{c.groups, c.locks, c.elections} {
		if err := c.ensurePath(ctx, s, p); err != nil {
			return err
		}
	}
	err := c.retry(ctx, s, func(int) error {
		_, err := call(ctx, func() ([]string, error) {
			ch, _, err := s.zk.Children(c.root)
			return ch, err
		})
		return err
	})
	return c.mapErr(err)
}

// SessionState is the state of a coordinator's ZooKeeper session as its
// driver sees it.
type SessionState int

// The session states. Suspended is Curator's SUSPENDED: the connection is
// gone but the session, and everything tied to it, may still live on the
// server. Lost is Curator's LOST: the server expired the session.
const (
	StateConnected SessionState = iota + 1 // connected, session live
	StateSuspended                         // disconnected; the session may still be alive
	StateLost                              // the session expired; the next Heartbeat opens a new one
	StateClosed                            // Close or Abandon was called
)

// String returns the state's name.
func (s SessionState) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateSuspended:
		return "suspended"
	case StateLost:
		return "lost"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("SessionState(%d)", int(s))
}

// SessionStater is implemented by the zookeeper driver (reach it with
// Coordinator.Driver and a type assertion). SessionState returns the
// current state and a channel closed at the next change of state.
type SessionStater interface {
	SessionState() (SessionState, <-chan struct{})
}

// conn is one coordinator's driver: its settings and its current session.
type conn struct {
	log     *slog.Logger
	member  string
	hosts   []string
	auth    []byte
	timeout time.Duration
	acl     []zk.ACL
	tls     *tls.Config // nil: plain TCP

	chroot, root, groups, locks, elections string

	containers atomic.Bool  // false once the server refused a container znode
	statReads  atomic.Int64 // contenders whose czxid had to be read (tests)

	mu      sync.Mutex
	sess    *session
	closed  bool
	state   SessionState
	stateCh chan struct{} // closed and replaced on every change of state or session
	watches map[*groupWatch]struct{}
	suspend int // times the session was suspended (tests)
	// run is the background work (closing dead sessions, undoing
	// abandoned creates); Close and Abandon wait for it, and work spawned
	// later runs untracked.
	run driverkit.Runner

	// Persistent group watches (persistent.go); noPersistent once the
	// server refused one.
	pwatches          map[*pwatch]struct{} // guarded by mu
	noPersistent      atomic.Bool
	persistentWatches atomic.Int64 // started (tests)
	// testHoldWatches, when set (by tests), holds every persistent watch
	// that lost its connection until the channel closes.
	testHoldWatches atomic.Pointer[chan struct{}]
}

var _ SessionStater = (*conn)(nil)

// SessionState implements SessionStater.
func (c *conn) SessionState() (SessionState, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.stateCh
}

// setStateLocked records a new state and wakes whoever waits for a change. c.mu is held.
func (c *conn) setStateLocked(st SessionState) {
	c.state = st
	close(c.stateCh)
	c.stateCh = make(chan struct{})
}

// current returns the session in use and a channel closed at the next change.
func (c *conn) current() (*session, <-chan struct{}, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess, c.stateCh, c.closed
}

// live returns the current session, or an error when the coordinator is
// closed or its session expired (until Heartbeat replaces it).
func (c *conn) live() (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, tooz.ErrClosed
	}
	if err := c.sess.deadErr(); err != nil {
		return nil, fmt.Errorf("%w: session 0x%x ended (%v); the next heartbeat opens a new one", tooz.ErrSessionLost, c.sess.id(), err)
	}
	return c.sess, nil
}

// spawn runs f in the background; Close and Abandon wait for it.
func (c *conn) spawn(f func()) {
	if !c.run.Go(f) {
		go f() // after Close: it must still run, untracked
	}
}

// sessionEvent is called (from the client's goroutine, without blocking
// for long) when session s changes state.
func (c *conn) sessionEvent(s *session, st SessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != s || c.closed || c.state == st {
		return
	}
	prev := c.state
	c.setStateLocked(st)
	switch st {
	case StateSuspended:
		c.suspend++
		c.log.Warn("tooz: zookeeper connection lost; the session may still be alive, reconnecting",
			"session", fmt.Sprintf("0x%x", s.id()), "timeout", c.timeout)
	case StateConnected:
		if prev == StateSuspended {
			c.log.Info("tooz: zookeeper reconnected within the session", "session", fmt.Sprintf("0x%x", s.id()), "server", s.zk.Server())
		}
	case StateLost:
		c.log.Error("tooz: zookeeper session expired: its memberships, locks and leaderships are gone",
			"session", fmt.Sprintf("0x%x", s.id()))
	}
}

// Characteristics implements tooz.CoordinationDriver. See the package
// documentation for why these and not more.
func (c *conn) Characteristics() []tooz.Characteristic {
	return []tooz.Characteristic{
		tooz.DistributedAcrossThreads, tooz.DistributedAcrossProcesses, tooz.DistributedAcrossHosts,
		tooz.Sequential, tooz.Causal,
	}
}

// Heartbeat implements tooz.CoordinationDriver: one round trip on the
// session (the client's own pings keep it alive), or, when the server
// expired the session, a new session and an error wrapping
// tooz.ErrSessionLost.
func (c *conn) Heartbeat(ctx context.Context) (time.Duration, error) {
	next := c.timeout / 3
	s, _, closed := c.current()
	if closed {
		return 0, tooz.ErrClosed
	}
	if err := s.deadErr(); err != nil {
		return c.replace(ctx, s, err)
	}
	if !s.isConnected() {
		// Suspended: the client is reconnecting; a request would only
		// queue up behind it.
		return next, fmt.Errorf("%w: suspended (reconnecting; session 0x%x may still be alive)", tooz.ErrConnection, s.id())
	}
	_, err := call(ctx, func() (bool, error) {
		ok, _, err := s.zk.Exists(c.root)
		return ok, err
	})
	if err != nil {
		if derr := s.deadErr(); derr != nil {
			return c.replace(ctx, s, derr)
		}
		return next, c.mapErr(err)
	}
	c.runPending(s)
	return next, nil
}

// replace opens a new session in place of old, which ended with why.
func (c *conn) replace(ctx context.Context, old *session, why error) (time.Duration, error) {
	next := c.timeout / 3
	ns, err := c.newSession(ctx)
	if err != nil {
		return next, fmt.Errorf("session 0x%x ended (%v); opening a new one: %w", old.id(), why, err)
	}
	// Sync once so that the new session's server is at least as recent as
	// anything this coordinator saw through the old one: the client's
	// "never go back in time" guarantee is per session.
	if _, err := call(ctx, func() (string, error) { return ns.zk.Sync(c.root) }); err != nil {
		ns.end(tooz.ErrClosed)
		c.spawn(ns.closeZK)
		return next, fmt.Errorf("session 0x%x ended (%v); syncing the new one: %w", old.id(), why, c.mapErr(err))
	}
	c.mu.Lock()
	if c.closed || c.sess != old {
		c.mu.Unlock()
		ns.end(tooz.ErrClosed)
		c.spawn(ns.closeZK)
		if c.closed {
			return 0, tooz.ErrClosed
		}
		return next, nil
	}
	c.sess = ns
	c.setStateLocked(StateConnected)
	c.mu.Unlock()
	c.log.Info("tooz: new zookeeper session after expiry", "old", fmt.Sprintf("0x%x", old.id()), "new", fmt.Sprintf("0x%x", ns.id()))
	return next, fmt.Errorf("%w: session 0x%x ended (%v); new session 0x%x", tooz.ErrSessionLost, old.id(), why, ns.id())
}

// errClosedSession ends a session closed by Close.
var errClosedSession = errors.New("session closed")

// errAbandoned ends a session dropped by Abandon.
var errAbandoned = errors.New("session abandoned")

// Close implements tooz.CoordinationDriver: it closes the session, which
// makes the server delete every ephemeral znode at once.
func (c *conn) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	s := c.sess
	c.setStateLocked(StateClosed)
	c.mu.Unlock()
	c.stopWatches()
	s.end(errClosedSession)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.closeZK()
		c.run.Wait()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: closing the session: %w", tooz.ErrConnection, ctx.Err())
	}
}

// Abandon implements tooz.Abandoner: the sockets are dropped and the client
// stopped without sending closeSession, so the session and its ephemeral
// znodes live on until the server times the session out, as after a crash.
func (c *conn) Abandon() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	s := c.sess
	c.setStateLocked(StateClosed)
	c.mu.Unlock()
	s.dial.cut() // nothing more reaches the server, closeSession included
	s.end(errAbandoned)
	c.stopWatches()
	s.closeZK()
	c.run.Wait()
}

func (c *conn) stopWatches() {
	c.mu.Lock()
	ws := slices.Collect(maps.Keys(c.watches))
	c.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	c.mu.Lock()
	pws := slices.Collect(maps.Keys(c.pwatches))
	c.mu.Unlock()
	for _, w := range pws {
		w.stop()
	}
}

// mapErr translates client errors into tooz's sentinels.
func (c *conn) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, tooz.ErrSessionLost), errors.Is(err, tooz.ErrClosed),
		errors.Is(err, tooz.ErrConnection), errors.Is(err, tooz.ErrAuth):
		return err
	case errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrAuthFailed), errors.Is(err, zk.ErrInvalidACL):
		return fmt.Errorf("%w: %v", tooz.ErrAuth, err)
	case errors.Is(err, zk.ErrSessionExpired), errors.Is(err, zk.ErrSessionMoved):
		return fmt.Errorf("%w: %v", tooz.ErrSessionLost, err)
	case errors.Is(err, zk.ErrClosing):
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return tooz.ErrClosed
		}
		return fmt.Errorf("%w: %v", tooz.ErrSessionLost, err)
	case connLoss(err):
		return fmt.Errorf("%w: %v", tooz.ErrConnection, err)
	}
	return err
}

// connLoss reports errors after which the request may or may not have
// reached the server and the client is reconnecting.
func connLoss(err error) bool {
	if err == nil {
		return false // the common case, without errors.As's allocation
	}
	if errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// retry runs op until it ends with something other than a connection
// loss, waiting for the session to reconnect between attempts. It gives up
// with tooz.ErrConnection once the connection has been lost for a whole
// session timeout (the session is then expired on the server, or will be
// found so). op receives the attempt number, 0 first: a write retried
// after a loss must allow for its first attempt having succeeded.
func (c *conn) retry(ctx context.Context, s *session, op func(attempt int) error) error {
	var since time.Time
	for attempt := 0; ; attempt++ {
		err := op(attempt)
		if !connLoss(err) {
			if errors.Is(err, zk.ErrClosing) || errors.Is(err, zk.ErrSessionExpired) {
				if derr := s.deadErr(); derr != nil {
					return c.deadSessionErr(s, derr)
				}
			}
			return err
		}
		if since.IsZero() {
			since = time.Now()
		}
		left := c.timeout - time.Since(since)
		if left <= 0 {
			return fmt.Errorf("%w: no connection for %v: %v", tooz.ErrConnection, c.timeout, err)
		}
		if werr := s.waitConnected(ctx, left); werr != nil {
			if derr := s.deadErr(); derr != nil {
				return c.deadSessionErr(s, derr)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: no connection for %v: %v", tooz.ErrConnection, c.timeout, err)
		}
		// A write error can arrive before the client notices the loss:
		// back off a little so as not to spin.
		if attempt > 0 {
			t := time.NewTimer(min(time.Duration(attempt)*10*time.Millisecond, 200*time.Millisecond))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

// deadSessionErr reports an operation cut short because s ended.
func (c *conn) deadSessionErr(s *session, why error) error {
	if errors.Is(why, errClosedSession) || errors.Is(why, errAbandoned) {
		return tooz.ErrClosed
	}
	return fmt.Errorf("%w: session 0x%x ended: %v", tooz.ErrSessionLost, s.id(), why)
}

// call runs fn on a goroutine of its own so that ctx can end the wait (the
// client's requests do not take a context).
func call[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	return callUndo(ctx, fn, nil)
}

// undoWait bounds how long a create whose caller gave up is waited for, so
// that its undo is done before the caller returns.
const undoWait = 2 * time.Second

// callUndo is call for a create. When ctx ends while fn is in flight, it
// waits (up to undoWait) for fn's answer and, if fn succeeded, runs undo
// before returning ctx's error: the caller's withdrawal is complete when
// it returns (a waiter that gave up is out of the queue). An answer later
// than that is undone in the background.
func callUndo[T any](ctx context.Context, fn func() (T, error), undo func(T)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if ctx.Done() == nil {
		return fn() // nothing can end the wait: spare the goroutine
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	var (
		mu        sync.Mutex
		abandoned bool
	)
	go func() {
		v, err := fn()
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if err == nil && undo != nil {
				undo(v)
			}
			return
		}
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
	}
	if undo != nil {
		t := time.NewTimer(undoWait)
		defer t.Stop()
		select {
		case r := <-ch:
			if r.err == nil {
				undo(r.v)
			}
			return zero, ctx.Err()
		case <-t.C:
		}
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case r := <-ch:
		if undo == nil {
			return r.v, r.err
		}
		if r.err == nil {
			undo(r.v)
		}
	default:
		abandoned = true
	}
	return zero, ctx.Err()
}

// ensurePath creates p and its missing parents as persistent znodes.
func (c *conn) ensurePath(ctx context.Context, s *session, p string) error {
	return c.mapErr(c.retry(ctx, s, func(int) error {
		ok, err := call(ctx, func() (bool, error) {
			ok, _, err := s.zk.Exists(p)
			return ok, err
		})
		if err != nil || ok {
			return err
		}
		var cur string
		for _, seg := range strings.Split(p[1:], "/") {
			cur += "/" + seg
			_, err := call(ctx, func() (string, error) { return s.zk.Create(cur, nil, zk.FlagPersistent, c.acl) })
			if err != nil && !errors.Is(err, zk.ErrNodeExists) {
				return err
			}
		}
		return nil
	}))
}
