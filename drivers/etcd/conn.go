// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// join is a membership this coordinator created: the member key's create
// revision and the JoinedAt it stored.
type join struct {
	rev int64
	at  time.Time
}

// lease is one etcd lease of the coordinator, with what hangs on it.
type lease struct {
	id         clientv3.LeaseID
	ttl        int64 // seconds asked for
	grantedTTL int64 // seconds granted (the server may raise it to its minimum)
	// scope ends when the lease is found expired, is revoked, or the
	// coordinator closes: every ownership on the lease ends with it, and
	// waiters contending under it stop.
	scope *driverkit.Scope
	// expired is set when the server said the lease no longer exists.
	expired bool
	// slots are the contender slots in use, by resource prefix. Guarded by conn.mu.
	slots map[string]map[int]struct{}
}

func (l *lease) isDead() bool { return l.scope.Ended() }

// conn is one coordinator's driver.
type conn struct {
	cli     *clientv3.Client
	keys    keys
	member  string
	timeout time.Duration
	mainTTL int64 // seconds
	lockTTL time.Duration
	log     *slog.Logger

	borrowed bool // cli is the application's (see Open): Close leaves it open

	hbMu sync.Mutex       // serializes Heartbeat
	run  driverkit.Runner // background withdrawals and awaited answers; stopped by shut

	mu      sync.Mutex
	closed  bool
	leases  map[int64]*lease // by TTL in seconds; the main lease under mainTTL
	lost    bool             // a lease expired: the next Heartbeat replaces them all and reports ErrSessionLost
	watches map[*prefixWatch]struct{}
	// orphans are contender keys whose delete (release, withdrawal) failed
	// while their lease lives on: the next successful Heartbeat deletes
	// them, so that a lock given up during an outage does not stay held.
	// Replaced (with its leases) when the session is lost. Guarded by mu.
	orphans *driverkit.Pending[*contender]
	// joins are this coordinator's memberships as it created them, so that
	// UpdateCapabilities keeps JoinedAt in one guarded transaction.
	joins map[string]join

	// dw follows the deletion of owned keys on one stream; nil when the
	// application's client wraps its KV or Watcher (see usable).
	dw *deleteWatch

	// testHookWatch, when set (by tests), runs in a prefix watch's
	// goroutine after a listing at rev and before the watch from rev+1 starts.
	testHookWatch atomic.Pointer[func(rev int64)]
}

func newConn(cli *clientv3.Client, cfg tooz.Config, s settings) *conn {
	c := &conn{
		cli:     cli,
		keys:    keys{ns: keyspace.Escape(cfg.Namespace) + "/"},
		member:  cfg.MemberID,
		timeout: cfg.Timeout,
		mainTTL: ttlSeconds(cfg.Timeout),
		lockTTL: s.lockTTL,
		log:     cfg.Logger,
		leases:  map[int64]*lease{},
		watches: map[*prefixWatch]struct{}{},
		orphans: &driverkit.Pending[*contender]{},
		joins:   map[string]join{},
	}
	if usable(cli) {
		c.dw = newDeleteWatch(c)
	}
	return c
}

// Characteristics implements tooz.CoordinationDriver. etcd is a Raft
// cluster: every write and (by default, never WithSerializable here) every
// read goes through the leader's log, so operations are linearizable —
// hence sequential and causal — and multi-key transactions are
// serializable; every client talks to the same replicated state, from any
// thread, process or host.
func (c *conn) Characteristics() []tooz.Characteristic {
	return []tooz.Characteristic{
		tooz.DistributedAcrossThreads, tooz.DistributedAcrossProcesses, tooz.DistributedAcrossHosts,
		tooz.Linearizable, tooz.Sequential, tooz.Causal, tooz.Serializable, tooz.SameViewAcrossClients,
	}
}

// translate maps etcd and gRPC errors to tooz's sentinels, keeping the
// original error in the chain. Context errors pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrPermissionDenied),
		errors.Is(err, rpctypes.ErrInvalidAuthToken), errors.Is(err, rpctypes.ErrUserEmpty),
		errors.Is(err, rpctypes.ErrAuthOldRevision), errors.Is(err, rpctypes.ErrUserNotFound):
		return fmt.Errorf("%w: etcd: %w", tooz.ErrAuth, err)
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrNotLeader),
		errors.Is(err, rpctypes.ErrLeaderChanged), errors.Is(err, rpctypes.ErrStopped),
		errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost), errors.Is(err, rpctypes.ErrUnhealthy),
		errors.Is(err, rpctypes.ErrTimeoutWaitAppliedIndex):
		return fmt.Errorf("%w: etcd: %w", tooz.ErrConnection, err)
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return fmt.Errorf("%w: etcd: %w", tooz.ErrSessionLost, err)
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable:
			return fmt.Errorf("%w: etcd: %w", tooz.ErrConnection, err)
		case codes.Unauthenticated, codes.PermissionDenied:
			return fmt.Errorf("%w: etcd: %w", tooz.ErrAuth, err)
		}
	}
	if errors.Is(err, clientv3.ErrNoAvailableEndpoints) {
		return fmt.Errorf("%w: etcd: %w", tooz.ErrConnection, err)
	}
	return fmt.Errorf("etcd: %w", err)
}

// fail translates err from an operation run on ctx. When the server no
// longer knows lease l, l is marked lost first.
func (c *conn) fail(ctx context.Context, l *lease, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if l != nil && errors.Is(err, rpctypes.ErrLeaseNotFound) {
		c.leaseExpired(l)
	}
	if c.isClosed() {
		return tooz.ErrClosed
	}
	return translate(err)
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// grant asks for a new lease of ttl seconds.
func (c *conn) grant(ctx context.Context, ttl int64) (*lease, error) {
	resp, err := c.cli.Grant(ctx, ttl)
	if err != nil {
		return nil, err
	}
	return &lease{id: resp.ID, ttl: ttl, grantedTTL: resp.TTL, scope: driverkit.NewScope(context.Background()),
		slots: map[string]map[int]struct{}{}}, nil
}

// leaseFor returns the live lease of ttl seconds, granting it on first use
// (only a lock_ttl or WithLockTTL lease differing from the timeout is
// granted lazily; the main lease exists from Open on).
func (c *conn) leaseFor(ctx context.Context, ttl int64) (*lease, error) {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return nil, tooz.ErrClosed
	case c.lost:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: the lease expired; the next heartbeat grants a new one", tooz.ErrSessionLost)
	}
	if l := c.leases[ttl]; l != nil {
		c.mu.Unlock()
		return l, nil
	}
	c.mu.Unlock()
	l, err := c.grant(ctx, ttl)
	if err != nil {
		return nil, c.fail(ctx, nil, err)
	}
	c.mu.Lock()
	if old := c.leases[ttl]; old != nil || c.closed || c.lost {
		c.mu.Unlock()
		c.revokeLater(l.id)
		if old != nil {
			return old, nil
		}
		return c.leaseFor(ctx, ttl)
	}
	c.leases[ttl] = l
	c.mu.Unlock()
	return l, nil
}

// revokeLater revokes a lease nobody uses, in the background (when the
// conn is closed, the unused lease is left to expire: nothing hangs on it).
func (c *conn) revokeLater(id clientv3.LeaseID) {
	c.background(func() {
		ctx, cancel := driverkit.CleanupContext(context.Background())
		defer cancel()
		_, _ = c.cli.Revoke(ctx, id)
	})
}

// mainLease returns the coordinator's lease, or an error when there is none.
func (c *conn) mainLease() (*lease, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, tooz.ErrClosed
	case c.lost:
		return nil, fmt.Errorf("%w: the lease expired; the next heartbeat grants a new one", tooz.ErrSessionLost)
	}
	return c.leases[c.mainTTL], nil
}

// leaseExpired records that the server no longer knows l: the whole
// session is lost. Every ownership ends now (its Lost closes) and waiters
// stop; the next Heartbeat grants a new lease and reports ErrSessionLost.
func (c *conn) leaseExpired(l *lease) {
	c.mu.Lock()
	if c.leases[l.ttl] != l || l.isDead() {
		c.mu.Unlock()
		return // already handled, or a lease of an earlier session
	}
	l.expired = true
	c.lost = true
	c.killLeasesLocked()
	c.mu.Unlock()
	c.log.Warn("tooz/etcd: lease expired; every lock and leadership is lost", "lease", fmt.Sprintf("%x", int64(l.id)))
}

// killLeasesLocked ends every lease's scope, and so every ownership and
// waiter on it. c.mu is held.
func (c *conn) killLeasesLocked() {
	for _, l := range c.leases {
		l.scope.End()
	}
}

// Heartbeat implements tooz.CoordinationDriver: one KeepAliveOnce per lease
// (one, unless lock_ttl asks for a second). When the server no longer
// knows a lease, every ownership ends, the leases still alive are revoked
// (everything hangs on one session), a new lease is granted and the error
// wraps tooz.ErrSessionLost. If the new lease cannot be granted yet, the
// connection error is returned and a later successful call reports the loss.
func (c *conn) Heartbeat(ctx context.Context) (time.Duration, error) {
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, tooz.ErrClosed
	}
	leases := make([]*lease, 0, len(c.leases))
	for _, l := range c.leases {
		leases = append(leases, l)
	}
	lost := c.lost
	c.mu.Unlock()

	next := c.interval(leases)
	if !lost {
		for _, l := range leases {
			_, err := c.cli.KeepAliveOnce(ctx, l.id)
			if err == nil {
				continue
			}
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				c.leaseExpired(l)
				lost = true
				break
			}
			return next, c.fail(ctx, nil, err)
		}
		if !lost {
			c.deleteOrphans(ctx)
			return next, nil
		}
	}

	// The session is lost: revoke what may still live of it, then start anew.
	var expired []string
	for _, l := range leases {
		if l.expired {
			expired = append(expired, fmt.Sprintf("%x", int64(l.id)))
			continue
		}
		if _, err := c.cli.Revoke(ctx, l.id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return next, c.fail(ctx, nil, err)
		}
	}
	l, err := c.grant(ctx, c.mainTTL)
	if err != nil {
		return next, c.fail(ctx, nil, err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_, _ = c.cli.Revoke(ctx, l.id) // closed meanwhile: nothing may outlive Close
		return 0, tooz.ErrClosed
	}
	c.leases = map[int64]*lease{c.mainTTL: l}
	c.lost = false
	c.orphans.Drop()
	c.orphans = &driverkit.Pending[*contender]{} // the old ones went with their leases
	c.mu.Unlock()
	c.log.Warn("tooz/etcd: new lease granted after the old one expired", "lease", fmt.Sprintf("%x", int64(l.id)))
	return c.interval([]*lease{l}), fmt.Errorf("%w: etcd lease %v expired; new lease %x granted",
		tooz.ErrSessionLost, expired, int64(l.id))
}

// orphan records a contender whose key could not be deleted; its slot
// stays taken for good, as a delete that went unanswered may still apply.
func (c *conn) orphan(ct *contender) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct.unsure = true
	if !c.closed {
		c.orphans.Add(ct)
	}
}

// markUnsure keeps ct's slot from being reused (see contender).
func (c *conn) markUnsure(ct *contender) {
	c.mu.Lock()
	ct.unsure = true
	c.mu.Unlock()
}

// deleteOrphans deletes the recorded orphan keys; those it cannot delete
// stay for the next heartbeat.
func (c *conn) deleteOrphans(ctx context.Context) {
	c.mu.Lock()
	orphans := c.orphans
	c.mu.Unlock()
	orphans.Run(func(ct *contender) error {
		if _, err := c.cli.Delete(ctx, ct.key); err != nil {
			return err
		}
		c.free(ct)
		c.log.Info("tooz/etcd: deleted a contender key whose release had failed", "key", ct.key)
		return nil
	})
}

// interval is how long to wait before the next heartbeat: a third of the
// shortest TTL in force.
func (c *conn) interval(leases []*lease) time.Duration {
	d := c.timeout
	for _, l := range leases {
		d = min(d, time.Duration(l.ttl)*time.Second)
	}
	return d / 3
}

// shut marks the conn closed, stops the watches, ends every ownership and
// wakes every waiter. It returns the leases that were alive, or nil when
// the conn was already closed.
func (c *conn) shut() ([]*lease, bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false
	}
	c.closed = true
	c.run.Stop()
	var live []*lease
	for _, l := range c.leases {
		if !l.isDead() {
			live = append(live, l)
		}
	}
	c.killLeasesLocked()
	watches := slices.Collect(maps.Keys(c.watches))
	c.mu.Unlock()
	if c.dw != nil {
		c.dw.close()
	}
	for _, w := range watches {
		w.stop()
	}
	return live, true
}

// Close implements tooz.CoordinationDriver: revoking the lease deletes every
// membership, lock and candidacy of this coordinator at once.
func (c *conn) Close(ctx context.Context) error {
	live, ok := c.shut()
	if !ok {
		return nil
	}
	var first error
	for _, l := range live {
		if _, err := c.cli.Revoke(ctx, l.id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) && first == nil {
			first = fmt.Errorf("revoke lease %x: %w", int64(l.id), translate(err))
		}
	}
	if !c.borrowed { // else the application closes its client
		if err := c.cli.Close(); err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = translate(err)
		}
	}
	c.run.Wait()
	return first
}

// Abandon implements tooz.Abandoner: the connection is dropped without
// revoking the lease, as if the process had been killed; what it held
// expires with the lease's TTL.
func (c *conn) Abandon() {
	if _, ok := c.shut(); ok {
		if !c.borrowed {
			_ = c.cli.Close()
		}
		c.run.Wait()
	}
}
