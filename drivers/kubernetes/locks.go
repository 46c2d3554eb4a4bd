// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"fmt"
	"strconv"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// ownership is one held Lease. Its fencing token is the resourceVersion of
// the write that made it the holder: a revision of the API server's etcd,
// which only grows, also across deletions of the Lease.
type ownership struct {
	*driverkit.Hold
	c         *conn
	name      string
	contender string
	rv        string
	token     uint64 // 0 until the acquiring write answered; under c.mu
}

// FencingToken implements tooz.Ownership.
func (o *ownership) FencingToken() uint64 {
	o.c.mu.Lock()
	defer o.c.mu.Unlock()
	return o.token
}

// Release implements tooz.Ownership: the Lease is deleted, on condition
// that it is still the one this ownership wrote.
func (o *ownership) Release(ctx context.Context) error {
	c := o.c
	c.mu.Lock()
	delete(c.holdings, o.name+"\x00"+o.contender)
	rv := o.rv
	c.mu.Unlock()
	o.End()
	err := c.leases.Delete(ctx, o.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return fmt.Errorf("%w: kubernetes: lease %s was deleted or taken over", tooz.ErrLockNotHeld, o.name)
	}
	return translate(err)
}

// holdingLease is the Lease that makes contender of session s the holder
// of res: a new one, or prev taken over (the update is conditional on
// prev's resourceVersion).
func (c *conn) holdingLease(name string, res tooz.Resource, contender string, s *session, prev *coordv1.Lease) *coordv1.Lease {
	l := &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name}}
	var transitions int32
	if prev != nil {
		l = prev.DeepCopy()
		if prev.Spec.LeaseTransitions != nil {
			transitions = *prev.Spec.LeaseTransitions + 1
		}
	}
	l.Labels = map[string]string{
		labelNamespace: c.nsHash, labelKind: "resource-" + strconv.Itoa(int(res.Kind)),
		labelSession: s.name, labelCoordinator: c.id,
	}
	l.Annotations = map[string]string{annName: res.Name, annContender: contender}
	holder := c.member
	secs := int32((c.timeout + time.Second - 1) / time.Second)
	now := metav1.NewMicroTime(time.Now())
	l.Spec = coordv1.LeaseSpec{
		HolderIdentity: &holder, LeaseDurationSeconds: &secs,
		AcquireTime: &now, RenewTime: &now, LeaseTransitions: &transitions,
	}
	return l
}

// register records a contender before its write, so that the holdings
// watch ends it if its Lease goes away at any time after the write.
func (c *conn) register(s *session, name, contender string) *ownership {
	o := &ownership{Hold: s.scope.Hold(), c: c, name: name, contender: contender}
	c.mu.Lock()
	c.holdings[name+"\x00"+contender] = o
	c.mu.Unlock()
	return o
}

func (c *conn) unregister(o *ownership) {
	c.mu.Lock()
	delete(c.holdings, o.name+"\x00"+o.contender)
	c.mu.Unlock()
	o.End()
}

// granted completes o with the Lease its write returned.
func (c *conn) granted(o *ownership, l *coordv1.Lease) (tooz.Ownership, error) {
	token, err := strconv.ParseUint(l.ResourceVersion, 10, 64)
	if err != nil || token == 0 {
		cctx, cancel := driverkit.CleanupContext(context.Background())
		defer cancel()
		_ = o.Release(cctx)
		return nil, fmt.Errorf("kubernetes: resourceVersion %q of lease %s is not a positive integer: no fencing token can be made of it", l.ResourceVersion, l.Name)
	}
	c.mu.Lock()
	o.rv, o.token = l.ResourceVersion, token
	c.mu.Unlock()
	return o, nil
}

// Acquire implements tooz.CoordinationDriver. The Lease of res is created
// when absent; a Lease whose holder's session expired is taken over by an
// update conditional on its resourceVersion, after the expired session was
// deleted (so it cannot be renewed back to life). A waiter watches the
// Lease and rechecks at the holder's session deadline.
func (c *conn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	name := c.lockName(res)
	contender := driverkit.NewID()
	for {
		s, err := c.session()
		if err != nil {
			return nil, err
		}
		cur, err := c.leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			o := c.register(s, name, contender)
			got, err := c.leases.Create(ctx, c.holdingLease(name, res, contender, s, nil), metav1.CreateOptions{})
			if err == nil {
				return c.granted(o, got)
			}
			c.unregister(o)
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return nil, translate(err)
		}
		if err != nil {
			return nil, translate(err)
		}
		holder, err := c.liveSession(ctx, cur.Labels[labelSession])
		if err != nil {
			return nil, err
		}
		if holder == nil {
			// liveSession reaped the holder's session, and with it every
			// Lease labelled with it, this one included: create it anew. If
			// the Lease is still there (it was relabelled, or the reap
			// failed halfway), take it over on condition instead.
			o := c.register(s, name, contender)
			got, err := c.leases.Create(ctx, c.holdingLease(name, res, contender, s, nil), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				got, err = c.leases.Update(ctx, c.holdingLease(name, res, contender, s, cur), metav1.UpdateOptions{})
			}
			if err == nil {
				return c.granted(o, got)
			}
			c.unregister(o)
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) {
				continue
			}
			return nil, translate(err)
		}
		if !wait {
			return nil, fmt.Errorf("%w: kubernetes: lease %s is held by %q", tooz.ErrNotAcquired, name, holderOf(cur))
		}
		opts := metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: cur.ResourceVersion}
		if err := c.waitWatch(ctx, opts, expiry(holder), nil); err != nil {
			return nil, err
		}
	}
}

func holderOf(l *coordv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// waitWatch returns when the Leases that opts selects change after
// opts.ResourceVersion; a little after until (a deadline of a session the
// waiter depends on, so that the clock that judges it finds it expired;
// zero: none); when stop closes (nil: never); or with an error when ctx
// ends or the coordinator closes. A watch refused because that
// resourceVersion is too old returns at once: the caller reads again.
func (c *conn) waitWatch(ctx context.Context, opts metav1.ListOptions, until time.Time, stop <-chan struct{}) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	unhook := context.AfterFunc(c.ctx, cancel)
	defer unhook()
	w, err := c.leases.Watch(wctx, opts)
	if err == nil {
		defer w.Stop()
		var timeout <-chan time.Time
		if !until.IsZero() {
			timer := time.NewTimer(time.Until(until) + 10*time.Millisecond)
			defer timer.Stop()
			timeout = timer.C
		}
		select {
		case <-w.ResultChan():
		case <-timeout:
		case <-stop:
		case <-wctx.Done():
		}
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case c.ctx.Err() != nil:
		return tooz.ErrClosed
	case err != nil && !apierrors.IsGone(err) && !apierrors.IsResourceExpired(err):
		return translate(err)
	}
	return nil
}

// Owner implements tooz.CoordinationDriver.
func (c *conn) Owner(ctx context.Context, res tooz.Resource) (string, error) {
	name := c.lockName(res)
	cur, err := c.leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("%w: kubernetes: no lease %s", tooz.ErrNoLeader, name)
	}
	if err != nil {
		return "", translate(err)
	}
	holder, err := c.liveSession(ctx, cur.Labels[labelSession])
	if err != nil {
		return "", err
	}
	if holder == nil {
		return "", fmt.Errorf("%w: kubernetes: the holder of lease %s is gone", tooz.ErrNoLeader, name)
	}
	return holderOf(cur), nil
}
