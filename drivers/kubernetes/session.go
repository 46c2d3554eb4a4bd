// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// session is one liveness of the coordinator: a Lease renewed by the heart.
type session struct {
	name       string
	lease      *coordv1.Lease // as last written
	validUntil time.Time      // the holder's own deadline (driverkit.ValidUntil)
	scope      *driverkit.Scope
}

func (c *conn) sessionLease(name string, now time.Time) *coordv1.Lease {
	secs := int32((c.timeout + time.Second - 1) / time.Second)
	holder := c.member
	t := metav1.NewMicroTime(now)
	return &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				labelNamespace: c.nsHash, labelKind: "session",
				labelSession: name, labelCoordinator: c.id,
			},
			Annotations: map[string]string{annTimeout: c.timeout.String()},
		},
		Spec: coordv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &t, RenewTime: &t},
	}
}

// openSession creates a new session Lease and makes it current.
func (c *conn) openSession(ctx context.Context) error {
	name := "tooz-s-" + driverkit.NewID()
	start := time.Now()
	l, err := c.leases.Create(ctx, c.sessionLease(name, start), metav1.CreateOptions{})
	if err != nil {
		return translate(err)
	}
	s := &session{name: name, lease: l, validUntil: driverkit.ValidUntil(start, c.timeout), scope: driverkit.NewScope(c.ctx)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		s.scope.End()
		cctx, cancel := driverkit.CleanupContext(ctx)
		defer cancel()
		_ = c.leases.Delete(cctx, name, metav1.DeleteOptions{}) // nothing may outlive Close
		return tooz.ErrClosed
	}
	c.sess = s
	c.mu.Unlock()
	return nil
}

// session returns the current session, or an error wrapping
// tooz.ErrSessionLost while there is no live one (the next Heartbeat
// opens one), or tooz.ErrClosed.
func (c *conn) session() (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, tooz.ErrClosed
	}
	if c.sess == nil || c.sess.scope.Ended() {
		return nil, fmt.Errorf("%w: kubernetes: the session lease is gone; the next heartbeat opens a new one", tooz.ErrSessionLost)
	}
	return c.sess, nil
}

// Heartbeat implements tooz.CoordinationDriver: one update of the session
// Lease's renewTime, conditional on its resourceVersion. When the Lease
// was deleted (another coordinator found it expired and reaped it), or the
// renewal comes after the session's own deadline (others may judge it
// expired at any moment), the session is lost: every ownership ends, what
// remains of the old session is deleted, a new session Lease is created
// and the error wraps tooz.ErrSessionLost.
func (c *conn) Heartbeat(ctx context.Context) (time.Duration, error) {
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, tooz.ErrClosed
	}
	s := c.sess
	c.mu.Unlock()
	next := c.timeout / 3

	why := "was deleted by a coordinator that found it expired"
	switch {
	case s.scope.Ended(): // the holdings watch saw the Lease go
	case !time.Now().Before(s.validUntil):
		why = "was not renewed before its deadline"
	default:
		if renewed, err := c.renew(ctx, s); renewed || err != nil {
			return next, err
		}
	}
	s.scope.End()
	if err := c.deleteSession(ctx, s.name, ""); err != nil {
		return next, translate(err)
	}
	if err := c.openSession(ctx); err != nil {
		return next, err
	}
	c.log.Warn("tooz/kubernetes: new session lease after the old one was lost", "old", s.name, "why", why)
	return next, fmt.Errorf("%w: kubernetes: session lease %s %s; a new one was created", tooz.ErrSessionLost, s.name, why)
}

// renew updates s's renewTime on condition that s's Lease is as last
// written. It reports false, without error, when the Lease was deleted or
// changed: the session is lost.
func (c *conn) renew(ctx context.Context, s *session) (bool, error) {
	start := time.Now()
	l := s.lease.DeepCopy()
	t := metav1.NewMicroTime(start)
	l.Spec.RenewTime = &t
	got, err := c.leases.Update(ctx, l, metav1.UpdateOptions{})
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		return false, nil
	case err != nil:
		return false, translate(err)
	}
	c.mu.Lock()
	s.lease, s.validUntil = got, driverkit.ValidUntil(start, c.timeout)
	c.mu.Unlock()
	return true, nil
}

// EndSession implements tooz.SessionEnder: the session Lease and
// everything tied to it are deleted.
func (c *conn) EndSession(ctx context.Context) error {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	s.scope.End()
	return translate(c.deleteSession(ctx, s.name, ""))
}

// errRenewed reports that a session found expired was renewed before it
// could be deleted.
var errRenewed = errors.New("session renewed meanwhile")

// deleteSession deletes the session Lease name (only at resourceVersion rv
// when rv is not empty; errRenewed when it changed), then every member and
// holding tied to it.
func (c *conn) deleteSession(ctx context.Context, name, rv string) error {
	opts := metav1.DeleteOptions{}
	if rv != "" {
		opts.Preconditions = &metav1.Preconditions{ResourceVersion: &rv}
	}
	err := c.leases.Delete(ctx, name, opts)
	switch {
	case apierrors.IsConflict(err):
		return errRenewed
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	return c.deleteLabelled(ctx, labelSession, name)
}

// deleteLabelled deletes every ConfigMap and Lease labelled key=value
// (memberships and keys; session and holdings), both requests at once.
func (c *conn) deleteLabelled(ctx context.Context, key, value string) error {
	sel := metav1.ListOptions{LabelSelector: selector(key, value)}
	cmErr := make(chan error, 1)
	go func() { cmErr <- c.cms.DeleteCollection(ctx, metav1.DeleteOptions{}, sel) }()
	err := c.leases.DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
	return errors.Join(<-cmErr, err)
}

// expiry is when the session Lease l runs out: its last renewal plus its
// timeout, on the clock of the coordinator that renewed it.
func expiry(l *coordv1.Lease) time.Time {
	var at time.Time
	switch {
	case l.Spec.RenewTime != nil:
		at = l.Spec.RenewTime.Time
	case l.Spec.AcquireTime != nil:
		at = l.Spec.AcquireTime.Time
	default:
		at = l.CreationTimestamp.Time
	}
	var d time.Duration
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	if v, err := time.ParseDuration(l.Annotations[annTimeout]); err == nil && v > 0 {
		d = v
	}
	return at.Add(d)
}

// liveSession returns the session Lease name while it lives, or nil when
// it is gone. A session found expired, or whose Lease is missing, is
// reaped first (deleted with everything tied to it), unless it was renewed
// meanwhile, in which case it is read again.
func (c *conn) liveSession(ctx context.Context, name string) (*coordv1.Lease, error) {
	if name == "" {
		return nil, nil
	}
	for {
		l, err := c.leases.Get(ctx, name, metav1.GetOptions{})
		rv := ""
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, translate(err)
		case time.Now().Before(expiry(l)):
			return l, nil
		default:
			rv = l.ResourceVersion
		}
		switch err := c.deleteSession(ctx, name, rv); {
		case errors.Is(err, errRenewed):
			continue
		case err != nil:
			return nil, translate(err)
		}
		return nil, nil
	}
}

// sessionDeadlines returns the deadline of each live session among
// names; sessions that are gone are reaped and left out. A few sessions
// are read one by one, more with one listing of the namespace's sessions.
func (c *conn) sessionDeadlines(ctx context.Context, names []string) (map[string]time.Time, error) {
	distinct := map[string]bool{}
	for _, n := range names {
		distinct[n] = true
	}
	live := make(map[string]time.Time, len(distinct))
	found := map[string]*coordv1.Lease{}
	if len(distinct) > 2 {
		list, err := c.leases.List(ctx, metav1.ListOptions{LabelSelector: c.sessionSelector()})
		if err != nil {
			return nil, translate(err)
		}
		for i := range list.Items {
			found[list.Items[i].Name] = &list.Items[i]
		}
	}
	now := time.Now()
	for n := range distinct {
		if l := found[n]; l != nil && now.Before(expiry(l)) {
			live[n] = expiry(l)
			continue
		}
		// Not listed, gone or expired: read one by one (and reaped when
		// gone, or read again when it was renewed meanwhile).
		l, err := c.liveSession(ctx, n)
		if err != nil {
			return nil, err
		}
		if l != nil {
			live[n] = expiry(l)
		}
	}
	return live, nil
}

// followHoldings is the coordinator's one watch over its own objects (its
// session Lease and the Leases of its holdings): a holding whose Lease is
// deleted or taken over ends at once, and so does the session when its
// Lease is deleted. After a broken watch it lists them again.
func (c *conn) followHoldings() {
	sel := selector(labelCoordinator, c.id)
	b := driverkit.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	for c.ctx.Err() == nil {
		list, err := c.leases.List(c.ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			b.Wait(c.ctx)
			continue
		}
		c.checkHoldings(list.Items, list.ResourceVersion)
		w, err := c.leases.Watch(c.ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: list.ResourceVersion})
		if err != nil {
			b.Wait(c.ctx)
			continue
		}
		b.Reset()
		for ev := range w.ResultChan() {
			l, ok := ev.Object.(*coordv1.Lease)
			if ev.Type == watch.Error || !ok {
				break
			}
			if ev.Type == watch.Deleted {
				c.objectGone(l)
			}
		}
		w.Stop()
	}
}

// checkHoldings ends every holding acquired at or before the listing at
// rv whose Lease is not in it, and the session if its Lease is not.
func (c *conn) checkHoldings(items []coordv1.Lease, rv string) {
	listed, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return
	}
	present := map[string]bool{}
	for i := range items {
		present[items[i].Name+"\x00"+items[i].Annotations[annContender]] = true
	}
	c.mu.Lock()
	var lost []*ownership
	for key, o := range c.holdings {
		if o.token != 0 && o.token <= listed && !present[key] {
			lost = append(lost, o)
			delete(c.holdings, key)
		}
	}
	s := c.sess
	srv := ""
	if s != nil {
		srv = s.lease.ResourceVersion
	}
	c.mu.Unlock()
	for _, o := range lost {
		o.End()
	}
	if s != nil && !present[s.name+"\x00"] {
		if v, err := strconv.ParseUint(srv, 10, 64); err == nil && v <= listed {
			s.scope.End()
		}
	}
}

// objectGone ends what the deleted (or no longer ours) Lease l stood for.
func (c *conn) objectGone(l *coordv1.Lease) {
	c.mu.Lock()
	s := c.sess
	key := l.Name + "\x00" + l.Annotations[annContender]
	o := c.holdings[key]
	if o != nil {
		delete(c.holdings, key)
	}
	c.mu.Unlock()
	if o != nil {
		o.End()
	}
	if s != nil && l.Name == s.name {
		s.scope.End()
	}
}
