// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/tlsfiles"
)

func init() {
	tooz.Register("redis", driver{})
	tooz.Register("rediss", driver{tls: true})
	tooz.Register("redis+sentinel", driver{sentinel: true})
}

// Driver-specific URL options.
const (
	optLockTTL     = "lock_ttl"
	optPoolSize    = "pool_size"
	optDialTimeout = "dial_timeout"
	optReadTimeout = "read_timeout"
	optMaster      = "master"
	optCA          = "ca"
	optCert        = "cert"
	optKey         = "key"
)

// Default ports.
const (
	defaultPort         = "6379"
	defaultSentinelPort = "26379"
)

// driver opens connections for one URL scheme.
type driver struct {
	tls      bool
	sentinel bool
}

// Options implements tooz.Driver.
func (d driver) Options() []string {
	opts := []string{optLockTTL, optPoolSize, optDialTimeout, optReadTimeout}
	if d.sentinel {
		opts = append(opts, optMaster)
	}
	if d.tls {
		opts = append(opts, optCA, optCert, optKey)
	}
	return opts
}

// settings are the validated URL settings of one coordinator.
type settings struct {
	client   *goredis.UniversalOptions
	lockTTL  time.Duration
	timeout  time.Duration
	prefix   string
	member   string
	redacted string
}

// parse validates cfg into settings. It does no I/O.
func (d driver) parse(cfg tooz.Config) (*settings, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", tooz.ErrInvalidURL, fmt.Sprintf(format, args...))
	}
	if cfg.Timeout < 10*time.Millisecond {
		return nil, bad("timeout %v is shorter than 10ms", cfg.Timeout)
	}
	lockTTL, err := cfg.Duration(optLockTTL, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	if lockTTL < 10*time.Millisecond {
		return nil, bad("lock_ttl %v is shorter than 10ms", lockTTL)
	}
	pool, err := cfg.Int(optPoolSize, 0)
	if err != nil {
		return nil, err
	}
	dial, err := cfg.Duration(optDialTimeout, 5*time.Second)
	if err != nil {
		return nil, err
	}
	read, err := cfg.Duration(optReadTimeout, 3*time.Second)
	if err != nil {
		return nil, err
	}
	o := &goredis.UniversalOptions{
		PoolSize:     pool,
		DialTimeout:  dial,
		ReadTimeout:  read,
		WriteTimeout: read,
		// Deadlines of the caller's context bound every command.
		ContextTimeoutEnabled: true,
		// The scripts change state: a retry after a lost reply could run
		// one twice. The heart and the callers retry at their level.
		MaxRetries:      -1,
		DialerRetries:   1,
		DisableIdentity: true,
	}
	if u := cfg.URL.User; u != nil {
		o.Username = u.Username()
		o.Password, _ = u.Password()
	}
	port := defaultPort
	if d.sentinel {
		port = defaultSentinelPort
		o.MasterName = cfg.Options[optMaster]
		if o.MasterName == "" {
			return nil, bad("redis+sentinel needs the option master=NAME")
		}
	}
	hosts := cfg.Hosts
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	for _, h := range hosts {
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), port)
		}
		o.Addrs = append(o.Addrs, h)
	}
	if p := strings.Trim(cfg.URL.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return nil, bad("path %q: want a database number such as /0", cfg.URL.Path)
		}
		if !d.sentinel && len(o.Addrs) > 1 && db != 0 {
			return nil, bad("Redis Cluster (several hosts) has only database 0")
		}
		o.DB = db
	}
	if d.tls {
		host, _, _ := net.SplitHostPort(o.Addrs[0])
		c, err := tlsfiles.Load(cfg.Options[optCA], cfg.Options[optCert], cfg.Options[optKey])
		if err != nil {
			return nil, err
		}
		c.ServerName = host
		o.TLSConfig = c
	}
	return &settings{
		client:   o,
		lockTTL:  lockTTL,
		timeout:  cfg.Timeout,
		prefix:   "{" + keyspace.Escape(cfg.Namespace) + "}",
		member:   cfg.MemberID,
		redacted: cfg.Redacted(),
	}, nil
}

// Open implements tooz.Driver: it connects and creates this coordinator's
// session key.
func (d driver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	s, err := d.parse(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return start(ctx, goredis.NewUniversalClient(s.client), cfg, s, false)
}

// start makes the coordinator's session on rdb; when that fails it closes
// rdb unless it is the application's (borrowed).
func start(ctx context.Context, rdb goredis.UniversalClient, cfg tooz.Config, s *settings, borrowed bool) (tooz.CoordinationDriver, error) {
	c := &conn{
		rdb:     rdb,
		log:     cfg.Logger,
		p:       s.prefix,
		member:  s.member,
		timeout: s.timeout,
		lockTTL: s.lockTTL,
		cid:     driverkit.NewID(),
		sid:     driverkit.NewID(),
		held:    map[*ownership]struct{}{},
		waiters: map[string]*waiter{},
		watches: map[stopper]struct{}{},
		shared:  map[*sharedOwn]struct{}{},
	}
	c.health = min(max(c.timeout/3, 100*time.Millisecond), 5*time.Second)
	c.sessUntil = driverkit.ValidUntil(time.Now(), c.timeout)
	next, err := c.run(ctx, scriptOpen, []string{c.skey(c.sid)}, c.p, c.sid, ms(c.timeout), c.member).Int64()
	if err != nil {
		if !borrowed {
			_ = c.rdb.Close()
		}
		return nil, c.mapErr(ctx, err)
	}
	c.borrowed = borrowed
	c.noteEarliest(next)
	return c, nil
}

// conn is one coordinator's driver: a go-redis client, a session key and
// the ownerships, waiters and watches made through it.
type conn struct {
	rdb     goredis.UniversalClient
	log     *slog.Logger
	p       string // key prefix: "{namespace}", a hash tag, so one slot holds it all
	member  string
	timeout time.Duration
	lockTTL time.Duration
	cid     string        // this conn's channel for lock grants
	health  time.Duration // pub/sub idle time before a health ping

	mu        sync.Mutex
	sid       string    // the current session
	sessUntil time.Time // local validity deadline of the session: no lock outlives it
	closed    bool
	held      map[*ownership]struct{}
	waiters   map[string]*waiter      // by token
	shared    map[*sharedOwn]struct{} // held semaphore permits and read/write locks (shared.go)
	watches   map[stopper]struct{}    // group and key watches
	grants    *grantSub               // started at the first wait
	expiry    *time.Timer             // fires at the earliest local deadline of a held lock
	refresh   *time.Timer             // fires when a held lock is due for a refresh the heart did not do
	expiryAt  time.Time               // when expiry is set to fire (zero: stopped)
	refreshAt time.Time               // when refresh is set to fire (zero: stopped)
	reaper    *time.Timer             // fires at the earliest session deadline while someone watches or waits
	reapNext  time.Duration           // as last reported by the server
	reapDue   time.Time               // when reaper fires
	refreshOn bool                    // a refresh is running
	tasks     driverkit.Runner        // background work; Close waits for it

	borrowed bool // rdb is the application's (see Open): Close leaves it open

	// testHoldReads, when set (by tests), holds every subscription's
	// reading goroutine until the channel closes.
	testHoldReads atomic.Pointer[chan struct{}]
}

// stopper is a running watch.
type stopper interface{ stop() }

// Key names. They must match the Lua functions in scripts.go.
func (c *conn) skey(sid string) string { return c.p + ":s:" + sid }
func (c *conn) ikey(sid string) string { return c.p + ":s:" + sid + ":i" }
func (c *conn) groupsKey() string      { return c.p + ":groups" }
func (c *conn) sessionsKey() string    { return c.p + ":sessions" }
func (c *conn) gkey(eg string) string  { return c.p + ":g:" + eg }
func (c *conn) gchan(eg string) string { return c.p + ":g:" + eg + ":ev" }
func (c *conn) grantChan() string      { return c.p + ":c:" + c.cid }

func (c *conn) lockKey(res tooz.Resource) string {
	if res.Kind == tooz.KindElection {
		return c.p + ":e:" + keyspace.Escape(res.Name)
	}
	return c.p + ":l:" + keyspace.Escape(res.Name)
}

// ms renders d in whole milliseconds, at least 1.
func ms(d time.Duration) string {
	return strconv.FormatInt(max(d.Milliseconds(), 1), 10)
}

// run runs one of the scripts.
func (c *conn) run(ctx context.Context, s *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	return s.Run(ctx, c.rdb, keys, args...)
}

// current returns the session ID, or ErrClosed.
func (c *conn) current() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", tooz.ErrClosed
	}
	return c.sid, nil
}

// errSessionGone is what the scripts' -3 / -1 session answers become.
var errSessionGone = fmt.Errorf("%w: the session key expired; the next heartbeat makes a new one", tooz.ErrSessionLost)

// mapErr translates a go-redis error into tooz's sentinels. It never
// adds the URL: callers add the redacted URL where it helps.
func (c *conn) mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	c.reloadTopology(err)
	if ctx != nil && ctx.Err() != nil {
		if errors.Is(err, ctx.Err()) {
			return err
		}
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller's context is live: a dial or I/O timeout of go-redis' own.
		return fmt.Errorf("%w: %v", tooz.ErrConnection, err)
	}
	msg := err.Error()
	if isAuthErr(msg) {
		return fmt.Errorf("%w: %s", tooz.ErrAuth, msg)
	}
	if errors.Is(err, goredis.ErrClosed) {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return tooz.ErrClosed
		}
	}
	if isConnErr(err) {
		return fmt.Errorf("%w: %v", tooz.ErrConnection, err)
	}
	return err
}

func isAuthErr(msg string) bool {
	msg = strings.TrimPrefix(msg, "ERR ")
	for _, p := range []string{"WRONGPASS", "NOAUTH", "NOPERM", "invalid password", "invalid username-password", "AUTH <password> called without"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return strings.Contains(msg, "Client sent AUTH, but no password is set")
}

func isConnErr(err error) bool {
	var ne net.Error
	var rh tls.RecordHeaderError
	var ce *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ne), errors.As(err, &rh), errors.As(err, &ce), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, goredis.ErrPoolTimeout), errors.Is(err, goredis.ErrClosed):
		return true
	}
	msg := err.Error()
	for _, p := range []string{"LOADING", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "redis: all sentinels", "redis: connection pool"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// Characteristics implements tooz.CoordinationDriver. Redis replicates
// asynchronously and a failover can lose acknowledged writes, so the
// driver is not linearizable; liveness is a TTL. tooz declares causal.
func (c *conn) Characteristics() []tooz.Characteristic {
	return []tooz.Characteristic{
		tooz.DistributedAcrossThreads, tooz.DistributedAcrossProcesses, tooz.DistributedAcrossHosts, tooz.Causal,
	}
}

// Heartbeat implements tooz.CoordinationDriver. One script renews the
// session key, refreshes every held lock, and reaps the sessions of other
// members that expired. When the session key is gone it reaps what was left
// of it, creates a new session in the same script, ends every ownership and
// returns ErrSessionLost.
func (c *conn) Heartbeat(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, tooz.ErrClosed
	}
	sid := c.sid
	owns := slices.Collect(maps.Keys(c.held))
	c.mu.Unlock()
	newSid := driverkit.NewID()
	keys := make([]string, 0, 1+len(owns))
	args := make([]any, 0, 5+2*len(owns))
	keys = append(keys, c.skey(sid))
	args = append(args, c.p, sid, ms(c.timeout), newSid, c.member)
	for _, o := range owns {
		keys = append(keys, o.lk)
		args = append(args, o.tok, ms(o.ttl))
	}
	next := c.timeout / 3
	res, err := c.run(ctx, scriptHeartbeat, keys, args...).Int64Slice()
	if err != nil {
		return min(next, time.Second), c.mapErr(ctx, err)
	}
	if len(res) != len(owns)+2 {
		return next, fmt.Errorf("heartbeat: unexpected reply of %d values", len(res))
	}
	c.noteEarliest(res[len(res)-1])
	until := driverkit.ValidUntil(start, c.timeout)
	if res[0] == 0 {
		c.mu.Lock()
		if c.sid == sid {
			c.sid = newSid
			c.sessUntil = until
		}
		all := slices.Collect(maps.Keys(c.held))
		c.mu.Unlock()
		for _, o := range all {
			c.lose(o, false)
		}
		c.endShared()
		c.log.Warn("tooz/redis: the session key had expired; made a new session", "lost", len(all))
		return next, fmt.Errorf("%w: the session key had expired; a new session is in place", tooz.ErrSessionLost)
	}
	c.mu.Lock()
	if c.sid == sid && until.After(c.sessUntil) {
		c.sessUntil = until
	}
	c.mu.Unlock()
	c.refreshed(owns, res[1:1+len(owns)], start)
	return next, nil
}

// Close implements tooz.CoordinationDriver: it deletes the session and
// everything tied to it in one script (leaves with events, releases with
// hand-over), then closes the connections.
func (c *conn) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	sid := c.sid
	c.mu.Unlock()
	c.stopBackground()
	_, err := c.run(ctx, scriptClose, []string{c.skey(sid)}, c.p, sid).Result()
	c.endAll()
	if !c.borrowed {
		if cerr := c.rdb.Close(); err == nil && cerr != nil && !errors.Is(cerr, goredis.ErrClosed) {
			err = cerr
		}
	}
	c.tasks.Wait()
	return c.mapErr(ctx, err)
}

// Abandon implements tooz.Abandoner: connections are dropped and nothing
// is cleaned up, so the session expires on the server after the timeout.
func (c *conn) Abandon() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.stopBackground()
	c.endAll()
	if !c.borrowed {
		_ = c.rdb.Close()
	}
	c.tasks.Wait()
}

// stopBackground stops the watches, the grant subscription and the timers,
// and wakes every waiter (which then finds the conn closed).
func (c *conn) stopBackground() {
	c.mu.Lock()
	ws := slices.Collect(maps.Keys(c.watches))
	g := c.grants
	for _, t := range []*time.Timer{c.expiry, c.refresh, c.reaper} {
		if t != nil {
			t.Stop()
		}
	}
	for _, w := range c.waiters {
		w.poke()
	}
	c.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	if g != nil {
		g.stop()
	}
}

// endAll ends every ownership locally (closing Lost), without I/O.
func (c *conn) endAll() {
	c.mu.Lock()
	all := slices.Collect(maps.Keys(c.held))
	c.mu.Unlock()
	for _, o := range all {
		c.end(o)
	}
	c.endShared()
}
