// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// WatchOwner implements tooz.OwnerWatcher: a watch of the resource's
// Lease, and a timer at its holder's session deadline, since an expiry is
// no event (the read that follows finds the session expired and reaps it,
// which deletes the Lease: an event for every other watcher).
func (c *conn) WatchOwner(ctx context.Context, res tooz.Resource, changed func(tooz.OwnerChange)) (func(), error) {
	name := c.lockName(res)
	ow := &ownerWatch{c: c, name: name, changed: changed}
	w, err := ow.open(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	if !c.runner.Go(func() {
		defer close(done)
		ow.run(wctx, w)
	}) {
		cancel()
		w.Stop()
		return nil, tooz.ErrClosed
	}
	return func() {
		cancel()
		<-done
	}, nil
}

type ownerWatch struct {
	c       *conn
	name    string
	changed func(tooz.OwnerChange)
	until   time.Time // the holder's session deadline, zero when none is known
}

// open reads the Lease (and its holder's session deadline) and starts
// watching it from that read.
func (ow *ownerWatch) open(ctx context.Context) (watch.Interface, error) {
	l, err := ow.c.leases.Get(ctx, ow.name, metav1.GetOptions{})
	rv := ""
	ow.until = time.Time{}
	switch {
	case apierrors.IsNotFound(err):
		list, lerr := ow.c.leases.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + ow.name})
		if lerr != nil {
			return nil, translate(lerr)
		}
		rv = list.ResourceVersion
	case err != nil:
		return nil, translate(err)
	default:
		rv = l.ResourceVersion
		if err := ow.deadline(ctx, l); err != nil {
			return nil, err
		}
	}
	w, err := ow.c.leases.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + ow.name, ResourceVersion: rv})
	return w, translate(err)
}

func (ow *ownerWatch) deadline(ctx context.Context, l *coordv1.Lease) error {
	s, err := ow.c.leases.Get(ctx, l.Labels[labelSession], metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		ow.until = time.Now() // gone: the owner read reaps it
	case err != nil:
		return translate(err)
	default:
		ow.until = expiry(s)
	}
	return nil
}

func (ow *ownerWatch) run(ctx context.Context, w watch.Interface) {
	b := driverkit.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ow.arm(timer)
		select {
		case <-ctx.Done():
			w.Stop()
			return
		case ev, ok := <-w.ResultChan():
			if ok && ev.Type != watch.Error {
				if l, isLease := ev.Object.(*coordv1.Lease); isLease && ev.Type != watch.Bookmark {
					ow.until = time.Time{}
					if ev.Type != watch.Deleted {
						_ = ow.deadline(ctx, l)
					}
					ow.changed(tooz.OwnerChange{})
				}
				continue
			}
			// The watch ended: watch again from a fresh read, then say
			// the owner may have changed meanwhile.
			w.Stop()
			for {
				var err error
				if w, err = ow.open(ctx); err == nil {
					break
				}
				if !b.Wait(ctx) {
					return
				}
			}
			b.Reset()
			ow.changed(tooz.OwnerChange{})
		case <-timer.C:
			ow.until = time.Time{}
			ow.changed(tooz.OwnerChange{})
			// Read the session again: renewed, the next deadline; expired,
			// the Owner read that follows reaps it and the Lease goes.
			if l, err := ow.c.leases.Get(ctx, ow.name, metav1.GetOptions{}); err == nil {
				_ = ow.deadline(ctx, l)
			}
		}
	}
}

// arm sets timer to a little after the holder's session deadline.
func (ow *ownerWatch) arm(timer *time.Timer) {
	if !timer.Stop() {
		select {
		case <-timer.C:
		default:
		}
	}
	if !ow.until.IsZero() {
		timer.Reset(max(time.Until(ow.until)+10*time.Millisecond, time.Millisecond))
	}
}
