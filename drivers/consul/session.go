// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
)

// Sessions: the coordinator's liveness, its renewal, its replacement after
// a loss, and the keys it must still clean up.

// session is one Consul session and what was issued under it.
type session struct {
	id string
	// scope ends when the session is known dead or the driver closes,
	// and every ownership issued under it with it.
	scope     *driverkit.Scope
	renewed   time.Time // start of the last successful renewal (or creation)
	dead      bool
	why       string
	gone      bool                       // known to be gone from the servers
	monitored bool                       // its monitor goroutine runs
	pending   driverkit.Pending[cleanup] // keys to delete once the agent answers again
	holds     holdings                   // what its ownerships' keys are followed by (holdings.go)
}

// cleanup is a key this session may still hold although nobody wants it:
// a queued contender that withdrew, or an owner key whose acquisition or
// release had an unknown outcome. It is deleted when its value names
// contender (or, with contender empty, whenever this session holds it).
type cleanup struct {
	key       string
	contender string
}

// ttlString renders the session TTL for Consul.
func ttlString(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return strconv.FormatInt(int64(ms), 10) + "ms"
}

// createSession creates a session: TTL-only (no health checks), behavior
// delete, lock-delay from the option (sent even when zero, since Consul's
// default is 15s).
func (d *conn) createSession(ctx context.Context) (*session, error) {
	body := map[string]any{
		"Name":       "tooz/" + keyspace.Escape(d.member),
		"TTL":        ttlString(d.timeout),
		"Behavior":   api.SessionBehaviorDelete,
		"LockDelay":  strconv.FormatInt(int64((d.lockDelay+time.Millisecond-1)/time.Millisecond), 10) + "ms",
		"Checks":     []string{},
		"NodeChecks": []string{},
	}
	start := time.Now()
	var out struct{ ID string }
	if _, err := d.client.Raw().Write("/v1/session/create", body, &out, d.w(ctx)); err != nil {
		if strings.Contains(err.Error(), "Session TTL") {
			return nil, fmt.Errorf("%w: timeout %v refused by the Consul servers as a session TTL: %s",
				tooz.ErrInvalidURL, d.timeout, d.scrub(err.Error()))
		}
		return nil, d.wrap(ctx, "create session", err)
	}
	if out.ID == "" {
		return nil, errors.New("consul: create session: no session ID in the answer")
	}
	return &session{id: out.ID, scope: driverkit.NewScope(d.base), renewed: start}, nil
}

// openSession creates the first session. An agent that answers but cannot
// serve yet (no cluster leader, its node not registered yet: it has just
// started) is given up to the timeout; an agent that does not answer fails
// at once.
func (d *conn) openSession(ctx context.Context) (*session, error) {
	deadline := time.Now().Add(d.timeout)
	bo := &driverkit.Backoff{Min: minBackoff, Max: maxBackoff}
	for {
		s, err := d.createSession(ctx)
		if err == nil || !errors.Is(err, tooz.ErrConnection) || !serverNotReady(err.Error()) || time.Now().After(deadline) {
			return s, err
		}
		d.log.Debug("tooz/consul: the agent cannot create sessions yet; retrying", "err", err)
		if !bo.Wait(ctx) {
			return nil, fmt.Errorf("consul create session: %w (last: %v)", ctx.Err(), err)
		}
	}
}

// serverNotReady reports the errors of an agent whose servers cannot serve yet.
func serverNotReady(msg string) bool {
	return strings.Contains(msg, "No cluster leader") || strings.Contains(msg, "Missing node registration")
}

// startMonitorLocked starts the goroutine that watches s on the servers,
// once per session. It runs only for sessions that issued an ownership:
// its blocking query wakes on every session change in the cluster, and
// only locks and leaderships need their loss reported sooner than the next
// heartbeat finds it. d.mu is held.
func (d *conn) startMonitorLocked(s *session) {
	if d.closed || s.dead || s.monitored {
		return
	}
	s.monitored = true
	d.run.Go(func() { d.monitor(s) })
}

// monitor follows s with blocking queries and ends everything issued under
// it as soon as the servers no longer know it (destroyed out of band,
// invalidated by its TTL).
func (d *conn) monitor(s *session) {
	var index uint64
	bo := &driverkit.Backoff{Min: minBackoff, Max: maxBackoff}
	for s.scope.Context().Err() == nil {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: blockWait}
		began := time.Now()
		e, meta, err := d.client.Session().Info(s.id, q.WithContext(s.scope.Context()))
		if err != nil {
			if s.scope.Context().Err() != nil {
				return
			}
			d.log.Debug("tooz/consul: session watch failed; retrying", "err", d.scrub(err.Error()))
			if !bo.Wait(s.scope.Context()) {
				return
			}
			continue
		}
		bo.Reset()
		if e == nil {
			// Confirm with the leader before ending anything.
			e, _, err = d.client.Session().Info(s.id, d.strong(s.scope.Context()))
			if err == nil && e == nil {
				d.kill(s, "the Consul servers invalidated the session", true)
				return
			}
			if !bo.Wait(s.scope.Context()) {
				return
			}
			continue
		}
		if abandoned(index, meta.LastIndex, began) {
			index = 0
			continue
		}
		index = nextIndex(index, meta.LastIndex)
	}
}

// nextIndex is the wait index after a blocking query answered at idx,
// starting over when the index went backwards (a servers' state reset).
func nextIndex(prev, idx uint64) uint64 {
	if idx < prev {
		return 0
	}
	return idx
}

// kill ends s: every ownership issued under it is lost, and operations
// report tooz.ErrSessionLost until the next heartbeat makes a new session.
func (d *conn) kill(s *session, why string, gone bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.killLocked(s, why, gone)
}

func (d *conn) killLocked(s *session, why string, gone bool) {
	if gone {
		s.gone = true
	}
	if s.dead {
		return
	}
	s.dead = true
	s.why = why
	s.pending.Drop() // the servers delete what the session held
	s.scope.End()
	if d.sess == s && !d.closed {
		d.log.Warn("tooz/consul: session lost; locks and leaderships end", "reason", why)
	}
}

// live returns the current session, or an error when the driver is closed
// or the session died and no heartbeat replaced it yet.
func (d *conn) live() (*session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, tooz.ErrClosed
	}
	if d.sess.dead {
		return nil, fmt.Errorf("%w: %s; the next heartbeat creates a new session", tooz.ErrSessionLost, d.sess.why)
	}
	return d.sess, nil
}

// errSessionGone reports a renewal of a session the servers do not know.
var errSessionGone = errors.New("session not found")

// Heartbeat implements tooz.CoordinationDriver: it renews the session, or
// replaces a lost one and reports tooz.ErrSessionLost.
func (d *conn) Heartbeat(ctx context.Context) (time.Duration, error) {
	d.hbMu.Lock()
	defer d.hbMu.Unlock()
	next := d.timeout / 3
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return 0, tooz.ErrClosed
	}
	s := d.sess
	if !s.dead && time.Since(s.renewed) > d.timeout {
		d.killLocked(s, fmt.Sprintf("no successful renewal within the timeout (%v)", d.timeout), false)
	}
	dead := s.dead
	d.mu.Unlock()
	if !dead {
		start := time.Now()
		err := d.renew(ctx, s.id)
		switch {
		case err == nil:
			d.mu.Lock()
			if start.After(s.renewed) {
				s.renewed = start
			}
			d.mu.Unlock()
			d.runCleanups(ctx, s)
			return next, nil
		case errors.Is(err, errSessionGone):
			d.kill(s, "the Consul servers no longer know the session (expired or destroyed)", true)
		default:
			return next, d.wrap(ctx, "renew session", err)
		}
	}
	return next, d.replace(ctx, s)
}

// renew renews session id once.
func (d *conn) renew(ctx context.Context, id string) error {
	var out []*api.SessionEntry
	_, err := d.client.Raw().Write("/v1/session/renew/"+id, nil, &out, d.w(ctx))
	var se api.StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		return errSessionGone
	}
	if err == nil && len(out) == 0 {
		return errSessionGone
	}
	return err
}

// replace destroys the dead session old on the servers (if they may still
// hold it), creates a new one and returns an error wrapping
// tooz.ErrSessionLost; or the connection error that stopped it, leaving
// old in place so that the next heartbeat tries again.
func (d *conn) replace(ctx context.Context, old *session) error {
	d.mu.Lock()
	gone, why := old.gone, old.why
	d.mu.Unlock()
	if !gone {
		if _, err := d.client.Session().Destroy(old.id, d.w(ctx)); err != nil {
			return d.wrap(ctx, "destroy lost session", err)
		}
		d.mu.Lock()
		old.gone = true
		d.mu.Unlock()
	}
	s, err := d.createSession(ctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		cctx, cancel := cleanupContext()
		defer cancel()
		_, _ = d.client.Session().Destroy(s.id, d.w(cctx))
		return tooz.ErrClosed
	}
	d.sess = s
	d.mu.Unlock()
	d.log.Info("tooz/consul: new session in place after a loss")
	return fmt.Errorf("%w: %s; a new session is in place", tooz.ErrSessionLost, why)
}

// runCleanups deletes the keys s may hold for nobody.
func (d *conn) runCleanups(ctx context.Context, s *session) {
	s.pending.Run(func(c cleanup) error { return d.cleanKey(ctx, s, c) })
}

// dispose deletes keys s may hold for nobody now, on a context of its own,
// and leaves those it could not delete to the next heartbeat.
func (d *conn) dispose(s *session, cs ...cleanup) {
	ctx, cancel := cleanupContext()
	defer cancel()
	s.pending.Try(func(c cleanup) error { return d.cleanKey(ctx, s, c) }, cs...)
}

// cleanKey deletes c.key if s holds it for c.contender.
func (d *conn) cleanKey(ctx context.Context, s *session, c cleanup) error {
	for range 5 {
		p, _, err := d.kv.Get(c.key, d.strong(ctx))
		if err != nil {
			return err
		}
		if p == nil || p.Session != s.id {
			return nil
		}
		if c.contender != "" {
			if rec, err := decodeContender(p.Value); err != nil || rec.Contender != c.contender {
				return nil
			}
		}
		ok, _, err := d.kv.DeleteCAS(&api.KVPair{Key: c.key, ModifyIndex: p.ModifyIndex}, d.w(ctx))
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("consul: key %q keeps changing", c.key)
}

func cleanupContext() (context.Context, context.CancelFunc) {
	return driverkit.CleanupContext(context.Background())
}
