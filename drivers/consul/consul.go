// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package consul registers the "consul" and "consul+https" drivers:
// coordination through a Consul agent's HTTP API, with the client module
// github.com/hashicorp/consul/api.
//
//	c, err := tooz.Open(ctx, "consul://127.0.0.1:8500?namespace=billing", "worker-7")
//	c, err := tooz.Open(ctx, "consul+https://consul.internal:8501?ca=/etc/consul/ca.pem", "worker-7")
//
// # URL
//
// One agent, host[:port] (default 127.0.0.1, port 8500 for consul:// and
// 8501 for consul+https://). Options, beside the common timeout and namespace:
//
//   - token: the ACL token. Without it the CONSUL_HTTP_TOKEN (or
//     CONSUL_HTTP_TOKEN_FILE) environment variable is used, as by the consul
//     CLI. The token is sent in a header only; it never appears in errors or
//     logs.
//   - timeout: the session TTL (default 10s). It must lie within the
//     servers' session_ttl_min (10s unless configured) and 24h. Consul
//     invalidates a session up to twice its TTL after the last renewal, so a
//     crashed member disappears between timeout and 2 x timeout after it
//     stopped.
//   - lock_delay: the session's lock-delay (default 0, at most 60s): after a
//     session is invalidated, the locks and leaderships it held cannot be
//     taken by anyone for this long (Consul's own safety margin; its 15s
//     default would make every failover wait).
//   - datacenter: the Consul datacenter to use (default: the agent's).
//   - consistency: "consistent" (default), "default" or "stale": the read
//     mode of Groups, Members, MemberInfo, Leader/Owner and group watches.
//     Lock and election internals always read in consistent mode.
//   - ca, cert, key (consul+https only): PEM files for the CA that signed
//     the agent's certificate and for a client certificate.
//
// User and password in the URL are sent as HTTP basic authentication (for
// agents behind a proxy). Other CONSUL_* environment variables that the
// consul/api client honours (CONSUL_NAMESPACE, CONSUL_PARTITION,
// CONSUL_HTTP_AUTH) apply too; TLS settings come from the URL only.
//
// # Keys
//
// Every key lives under the escaped namespace (internal/keyspace):
//
//	NS/groups/G/             the group marker (no session)
//	NS/groups/G/M            member M of group G, acquired by M's session
//	NS/groups/G/.deleting    held by the session of a DeleteGroup in progress
//	NS/locks/L/owner         the owner of lock L, acquired by its session
//	NS/locks/L/q/ID          contender ID queued for lock L, acquired by its session
//	NS/elections/G/...       the same for the leadership of group G
//	NS/semaphores/S/ID       contender ID of semaphore S, acquired by its session (shared.go)
//	NS/rwlocks/L/ID          contender ID of read/write lock L, likewise
//	NS/kv/K                  key K of the key/value namespace: its value as is, its modify
//	                         index as its revision; acquired by the writer's session when
//	                         ephemeral (kv.go)
//
// # Liveness
//
// Each coordinator creates one Consul session (TTL = timeout, behavior
// "delete", no health checks, lock-delay = lock_delay) and renews it on every
// heartbeat. Every membership, queued contender and owner key is acquired
// with that session, so Consul deletes all of them when the session is
// invalidated: on Close (which destroys it), or when it is not renewed in
// time (a crash). A watch on the session notices an invalidation at once and
// ends every lock and leadership; the next heartbeat creates a new session
// and reports tooz.ErrSessionLost, and the Coordinator re-joins its groups.
// (Only sessions that took a lock or a leadership are watched: the watch
// wakes on every session change in the cluster, and a plain membership's
// loss is found by the next heartbeat.)
// A heartbeat that finds no successful renewal within the timeout treats the
// session as lost too (destroying it on the servers as soon as they answer),
// so that "Consul briefly unavailable" never turns into a lock held in the
// client's mind only, while shorter outages are ridden out by retrying.
//
// # Events
//
// Each watched group is followed by blocking queries (index-based long
// polls) on its prefix. An answer is the group's complete state, so the
// events are the difference from the previous answer: members are told
// apart by their key's creation index, so a member that left and joined
// again between two answers is reported as both. When several changes
// land between two answers, their leaves are reported before their joins
// (joins in commit order); a member that joined and left between two
// answers is not seen at all: Consul keeps no history to ask for. When the
// agent cannot be reached the watch retries with a backoff and reports its
// next listing whole (GroupSink.Reset); so it does when the servers' index
// goes backwards (a snapshot restore), which it notices at once.
//
// # Locks and leadership
//
// A contender first reads the lock's keys; when nobody owns or waits, it
// takes the owner key in one transaction (check-not-exists + acquire). Otherwise
// it queues a key of its own, ordered by its creation index (the Raft
// index), and waits with a blocking query on its predecessor only (the head
// of the queue waits on the owner key). When that key is deleted, it takes
// the owner key with the same check-and-acquire, checking in the same
// transaction that the entries it last saw ahead of its own are gone (so
// a hand-over costs no listing); if a check fails, it reads the lock's
// keys again and waits on its new predecessor. Because the owner key is taken with a
// check-not-exists, two contenders on one coordinator (one session) exclude
// each other although Consul's acquire is re-entrant for a session. The
// fencing token is the owner key's modify index at acquisition: a Raft index,
// so strictly increasing for every new owner of a name. An ownership lasts as
// long as the session: there is no lock TTL apart from it, so
// tooz.WithLockTTL has nothing to set here.
//
// An ownership also ends when its key is deleted or released by someone
// else (consul kv delete) while the session lives. A session's first 8
// ownerships are each followed by a blocking query on their key; the rest
// share one query on their keys' longest common prefix, so that holding
// thousands of locks costs no goroutine or connection per lock, at the
// price of noticing such a revocation only once a listing of that prefix
// shows it (milliseconds to tens of milliseconds for thousands of keys).
//
// # Consistency
//
// With consistency=consistent every read verifies the leader with a quorum
// and every write goes through Raft: the driver declares Linearizable (and
// so Sequential, Causal, the same view across clients and, since a minority
// side of a partition cannot answer at all, the same view under
// partitions), and Serializable, since multi-key checks are Consul
// transactions. The default and stale modes may answer from an old state:
// they declare only the distribution characteristics and Serializable.
// Ownership ends on a session TTL, so the driver is not NonTimeoutBased.
package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
)

func init() {
	d := &driver{}
	tooz.Register("consul", d)
	tooz.Register("consul+https", d)
}

// Option names.
const (
	optToken       = "token"
	optLockDelay   = "lock_delay"
	optDatacenter  = "datacenter"
	optConsistency = "consistency"
	optCA          = "ca"
	optCert        = "cert"
	optKey         = "key"
)

// Read modes of the consistency option.
const (
	modeConsistent = "consistent"
	modeDefault    = "default"
	modeStale      = "stale"
)

const (
	defaultHost    = "127.0.0.1"
	defaultPort    = "8500"
	defaultTLSPort = "8501"
	// maxLockDelay is the longest lock-delay Consul accepts.
	maxLockDelay = 60 * time.Second
	// blockWait is how long one blocking query may wait on the servers.
	blockWait = 60 * time.Second
	// minBackoff and maxBackoff bound the wait before retrying a request
	// that failed because the agent could not be reached.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
	// ownerWatchGrace is how long an ended ownership's key watch may wait
	// for its key to change before it is cancelled (see watchOwned).
	ownerWatchGrace = time.Second
)

// driver is the registered tooz.Driver.
type driver struct{}

// Options implements tooz.Driver.
func (*driver) Options() []string {
	return []string{optToken, optLockDelay, optDatacenter, optConsistency, optCA, optCert, optKey}
}

// settings is the validated configuration of one coordinator.
type settings struct {
	address     string
	https       bool
	token       string
	basicAuth   *api.HttpBasicAuth
	datacenter  string
	consistency string
	lockDelay   time.Duration
	tls         api.TLSConfig
}

// parseSettings validates the URL and options without any I/O.
func parseSettings(cfg tooz.Config) (settings, error) {
	var s settings
	scheme := strings.ToLower(cfg.URL.Scheme)
	s.https = scheme == "consul+https"
	switch len(cfg.Hosts) {
	case 0:
		s.address = defaultHost
	case 1:
		s.address = cfg.Hosts[0]
	default:
		return s, fmt.Errorf("%w: %s talks to one Consul agent, got %d hosts", tooz.ErrInvalidURL, scheme, len(cfg.Hosts))
	}
	if _, _, err := net.SplitHostPort(s.address); err != nil {
		port := defaultPort
		if s.https {
			port = defaultTLSPort
		}
		s.address = net.JoinHostPort(strings.Trim(s.address, "[]"), port)
	}
	if p := cfg.URL.Path; p != "" && p != "/" {
		return s, fmt.Errorf("%w: %s takes no path (use the namespace option for a key prefix)", tooz.ErrInvalidURL, scheme)
	}
	if u := cfg.URL.User; u != nil {
		pw, _ := u.Password()
		s.basicAuth = &api.HttpBasicAuth{Username: u.Username(), Password: pw}
	}
	s.token = cfg.Options[optToken]
	s.datacenter = cfg.Options[optDatacenter]
	if v, ok := cfg.Options[optDatacenter]; ok && v == "" {
		return s, fmt.Errorf("%w: option datacenter is empty", tooz.ErrInvalidURL)
	}
	s.consistency = modeConsistent
	if v, ok := cfg.Options[optConsistency]; ok {
		switch v {
		case modeConsistent, modeDefault, modeStale:
			s.consistency = v
		default:
			return s, fmt.Errorf("%w: option consistency=%q: want consistent, default or stale", tooz.ErrInvalidURL, v)
		}
	}
	if v, ok := cfg.Options[optLockDelay]; ok {
		d, err := parseLockDelay(v)
		if err != nil {
			return s, fmt.Errorf("%w: option lock_delay=%q: %v", tooz.ErrInvalidURL, v, err)
		}
		s.lockDelay = d
	}
	s.tls = api.TLSConfig{
		Address:  s.address,
		CAFile:   cfg.Options[optCA],
		CertFile: cfg.Options[optCert],
		KeyFile:  cfg.Options[optKey],
	}
	for _, o := range []string{optCA, optCert, optKey} {
		v, ok := cfg.Options[o]
		if !ok {
			continue
		}
		if !s.https {
			return s, fmt.Errorf("%w: option %s needs the consul+https scheme", tooz.ErrInvalidURL, o)
		}
		if v == "" {
			return s, fmt.Errorf("%w: option %s is empty", tooz.ErrInvalidURL, o)
		}
	}
	if (s.tls.CertFile == "") != (s.tls.KeyFile == "") {
		return s, fmt.Errorf("%w: options cert and key go together", tooz.ErrInvalidURL)
	}
	if cfg.Timeout > 24*time.Hour {
		return s, fmt.Errorf("%w: timeout %v exceeds Consul's longest session TTL (24h)", tooz.ErrInvalidURL, cfg.Timeout)
	}
	return s, nil
}

// parseLockDelay accepts "0", a Go duration or a number of seconds, from 0 to 60s.
func parseLockDelay(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return 0, errors.New("want a duration such as 5s or a number of seconds")
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 0 || d > maxLockDelay {
		return 0, fmt.Errorf("must be between 0 and %v", maxLockDelay)
	}
	return d, nil
}

// Open implements tooz.Driver: it validates the options, connects to the
// agent and creates the coordinator's session.
func (*driver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	s, err := parseSettings(cfg)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Blocking queries hold connections for long: keep enough idle ones
	// that ordinary requests do not dial anew each time.
	transport.MaxIdleConnsPerHost = 64
	scheme := "http"
	if s.https {
		scheme = "https"
		tc, err := api.SetupTLSConfig(&s.tls)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS options: %v", tooz.ErrInvalidURL, err)
		}
		transport.TLSClientConfig = tc
	}
	token, err := resolveToken(s.token)
	if err != nil {
		return nil, err
	}
	client, err := api.NewClient(&api.Config{
		Address:    s.address,
		Scheme:     scheme,
		Datacenter: s.datacenter,
		Token:      token,
		HttpAuth:   s.basicAuth,
		Transport:  transport,
		HttpClient: &http.Client{Transport: transport},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", tooz.ErrInvalidURL, scrub(err.Error(), token))
	}
	return start(ctx, client, transport, cfg, s, token)
}

// start creates the coordinator's session through client. transport is
// the one tooz made for client, nil when the client is the application's.
func start(ctx context.Context, client *api.Client, transport *http.Transport, cfg tooz.Config, s settings, token string) (tooz.CoordinationDriver, error) {
	base, cancel := context.WithCancel(context.Background())
	d := &conn{
		client:       client,
		kv:           client.KV(),
		transport:    transport,
		member:       cfg.MemberID,
		timeout:      cfg.Timeout,
		lockDelay:    s.lockDelay,
		consistency:  s.consistency,
		token:        token,
		log:          cfg.Logger,
		ns:           keyspace.Escape(cfg.Namespace),
		soloHoldings: soloHoldings,
		base:         base,
		cancel:       cancel,
	}
	sess, err := d.openSession(ctx)
	if err != nil {
		cancel()
		d.closeIdle()
		return nil, err
	}
	d.mu.Lock()
	d.sess = sess
	d.mu.Unlock()
	return d, nil
}

// resolveToken returns the ACL token: the URL's, else $CONSUL_HTTP_TOKEN,
// else the content of the file $CONSUL_HTTP_TOKEN_FILE names (as the consul
// CLI does).
func resolveToken(fromURL string) (string, error) {
	if fromURL != "" {
		return fromURL, nil
	}
	if t := os.Getenv("CONSUL_HTTP_TOKEN"); t != "" {
		return t, nil
	}
	if f := os.Getenv("CONSUL_HTTP_TOKEN_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("%w: CONSUL_HTTP_TOKEN_FILE: %v", tooz.ErrInvalidURL, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

// conn is one coordinator's driver.
type conn struct {
	client      *api.Client
	kv          *api.KV
	transport   *http.Transport
	member      string
	timeout     time.Duration
	lockDelay   time.Duration
	consistency string
	token       string
	log         *slog.Logger
	ns          string // escaped namespace
	// soloHoldings is how many ownerships of a session are followed by a
	// query each (holdings.go); tests lower it.
	soloHoldings int

	base   context.Context // ends on Close and Abandon
	cancel context.CancelFunc
	run    driverkit.Runner // background goroutines: session monitors, watches

	hbMu sync.Mutex // serializes heartbeats

	mu     sync.Mutex
	closed bool
	sess   *session // the current session; may be dead until the next heartbeat replaces it

	// testHoldWatches, when set (by tests), makes every watch drop its
	// answers and wait until the channel closes.
	testHoldWatches atomic.Pointer[chan struct{}]
}

func (d *conn) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// Characteristics implements tooz.CoordinationDriver.
func (d *conn) Characteristics() []tooz.Characteristic {
	cs := []tooz.Characteristic{
		tooz.DistributedAcrossThreads, tooz.DistributedAcrossProcesses, tooz.DistributedAcrossHosts,
		tooz.Serializable,
	}
	if d.consistency == modeConsistent {
		cs = append(cs, tooz.Linearizable, tooz.Sequential, tooz.Causal,
			tooz.SameViewAcrossClients, tooz.SameViewUnderPartitions)
	}
	return cs
}

// Close implements tooz.CoordinationDriver: it destroys the session, which
// makes Consul delete every key it holds at once.
func (d *conn) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	s := d.sess
	d.mu.Unlock()
	d.cancel()
	var err error
	if !s.gone {
		if _, derr := d.client.Session().Destroy(s.id, d.w(ctx)); derr != nil {
			err = d.wrap(ctx, "destroy session", derr)
		}
	}
	d.kill(s, "coordinator closed", err == nil)
	d.run.Wait()
	d.closeIdle()
	return err
}

// closeIdle drops the idle connections of the transport tooz made; an
// application's own client keeps its connections.
func (d *conn) closeIdle() {
	if d.transport != nil {
		d.transport.CloseIdleConnections()
	}
}

// Abandon implements tooz.Abandoner: background work stops and connections
// drop, but the session is left to expire on the servers, as after a crash.
func (d *conn) Abandon() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	s := d.sess
	d.mu.Unlock()
	d.cancel()
	d.kill(s, "coordinator abandoned", false)
	d.run.Wait()
	d.closeIdle()
}
