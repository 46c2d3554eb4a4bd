// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"strconv"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// cmWatch follows a set of ConfigMaps (a group's memberships, the
// key/value namespace) whose entries may be tied to sessions, with two
// watches: the ConfigMaps and the namespace's session Leases. An entry
// tied to a session counts while that session lives; a timer fires at the
// earliest deadline of those sessions, and a session found expired is
// reaped, so that its entries go for everyone. A watch that ends (the API
// server's "too old resource version", a dropped connection, its timeout)
// makes it list both again and report the listing as a whole.
//
// report is called after the first listing (reset true) and after every
// change, on the watch's goroutine; it reads the entries with visible.
type cmWatch struct {
	c        *conn
	sel      string
	report   func(ctx context.Context, reset bool)
	objs     map[string]*corev1.ConfigMap // by name
	sessions map[string]*coordv1.Lease
	dead     map[string]bool // sessions found gone (a session never comes back)
	mrv, srv string          // where the two watches start
	rev      uint64          // the latest resourceVersion seen
	wake     time.Time       // the deadline the timer is set for (zero: none)
}

// start lists, reports the listing and runs the watch on a goroutine of
// the coordinator until the returned stop function is called.
func (w *cmWatch) start(ctx context.Context) (func(), error) {
	if err := w.list(ctx); err != nil {
		return nil, err
	}
	w.report(ctx, true)
	wctx, cancel := context.WithCancel(w.c.ctx)
	done := make(chan struct{})
	if !w.c.runner.Go(func() {
		defer close(done)
		w.run(wctx)
	}) {
		cancel()
		return nil, tooz.ErrClosed
	}
	var once sync.Once
	return func() {
		once.Do(cancel)
		<-done
	}, nil
}

// list reads the ConfigMaps and the sessions anew.
func (w *cmWatch) list(ctx context.Context) error {
	ms, err := w.c.cms.List(ctx, metav1.ListOptions{LabelSelector: w.sel})
	if err != nil {
		return translate(err)
	}
	ss, err := w.c.leases.List(ctx, metav1.ListOptions{LabelSelector: w.c.sessionSelector()})
	if err != nil {
		return translate(err)
	}
	w.objs = make(map[string]*corev1.ConfigMap, len(ms.Items))
	for i := range ms.Items {
		w.objs[ms.Items[i].Name] = &ms.Items[i]
	}
	w.sessions = make(map[string]*coordv1.Lease, len(ss.Items))
	for i := range ss.Items {
		w.sessions[ss.Items[i].Name] = &ss.Items[i]
	}
	w.dead = map[string]bool{}
	w.mrv, w.srv = ms.ResourceVersion, ss.ResourceVersion
	w.seen(ms.ResourceVersion)
	w.seen(ss.ResourceVersion)
	return nil
}

// seen advances w.rev to resourceVersion rv.
func (w *cmWatch) seen(rv string) {
	if v, err := strconv.ParseUint(rv, 10, 64); err == nil && v > w.rev {
		w.rev = v
	}
}

func (w *cmWatch) run(ctx context.Context) {
	b := driverkit.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		ok := w.follow(ctx, timer)
		if ctx.Err() != nil {
			return
		}
		if !ok {
			b.Wait(ctx)
		}
		if err := w.list(ctx); err != nil {
			continue
		}
		b.Reset()
		w.report(ctx, true)
	}
}

// follow applies both watches' events until one of them ends; it reports
// false when a watch could not even start.
func (w *cmWatch) follow(ctx context.Context, timer *time.Timer) bool {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kick := w.c.testBreak() // before the hold is read: see breakWatches
	if w.c.testHeld(ctx) {
		return true
	}
	mw, err := w.c.cms.Watch(wctx, metav1.ListOptions{LabelSelector: w.sel, ResourceVersion: w.mrv, AllowWatchBookmarks: true})
	if err != nil {
		return false
	}
	defer mw.Stop()
	sw, err := w.c.leases.Watch(wctx, metav1.ListOptions{LabelSelector: w.c.sessionSelector(), ResourceVersion: w.srv, AllowWatchBookmarks: true})
	if err != nil {
		return false
	}
	defer sw.Stop()
	w.arm(timer)
	for {
		select {
		case <-ctx.Done():
			return true
		case <-kick:
			w.c.testHeld(ctx)
			return true
		case ev, ok := <-mw.ResultChan():
			if !ok || ev.Type == watch.Error {
				return true
			}
			m, isCM := ev.Object.(*corev1.ConfigMap)
			if !isCM {
				return true
			}
			w.mrv = m.ResourceVersion
			w.seen(m.ResourceVersion)
			switch ev.Type {
			case watch.Added, watch.Modified:
				w.objs[m.Name] = m
			case watch.Deleted:
				delete(w.objs, m.Name)
			default:
				continue // a bookmark
			}
		case ev, ok := <-sw.ResultChan():
			if !ok || ev.Type == watch.Error {
				return true
			}
			l, isLease := ev.Object.(*coordv1.Lease)
			if !isLease {
				return true
			}
			w.srv = l.ResourceVersion
			w.seen(l.ResourceVersion)
			if !w.session(ev.Type, l, timer) {
				continue
			}
		case <-timer.C:
		}
		w.report(ctx, false)
		w.arm(timer)
	}
}

// session applies an event of the session watch, and reports whether it
// may change which entries count.
func (w *cmWatch) session(typ watch.EventType, l *coordv1.Lease, timer *time.Timer) bool {
	switch typ {
	case watch.Added, watch.Modified:
		was := w.sessions[l.Name]
		if was != nil && !later(l.ResourceVersion, was.ResourceVersion) {
			return false // older than what a read of the session found
		}
		w.sessions[l.Name] = l
		if typ == watch.Modified && renewed(was, l, time.Now()) {
			// Most events of a quiet namespace: no entry changes whether
			// it counts, so there is nothing to report (a report reads
			// every entry). The timer moves only if it was set for this
			// session's old deadline.
			if !expiry(was).After(w.wake) || expiry(l).Before(w.wake) {
				w.arm(timer)
			}
			return false
		}
		return true
	case watch.Deleted:
		delete(w.sessions, l.Name)
		return true
	}
	return false // a bookmark
}

// arm sets timer to the earliest deadline of a session behind an entry.
func (w *cmWatch) arm(timer *time.Timer) {
	var first time.Time
	for _, m := range w.objs {
		if l := w.sessions[m.Labels[labelSession]]; l != nil {
			if t := expiry(l); first.IsZero() || t.Before(first) {
				first = t
			}
		}
	}
	if !timer.Stop() {
		select {
		case <-timer.C:
		default:
		}
	}
	w.wake = first
	if !first.IsZero() {
		timer.Reset(max(time.Until(first)+10*time.Millisecond, time.Millisecond))
	}
}

// renewed reports whether a session Lease that changed from was to l
// lived before and still does at now: a renewal, after which every entry
// tied to it counts as it did.
func renewed(was, l *coordv1.Lease, now time.Time) bool {
	return was != nil && now.Before(expiry(was)) && now.Before(expiry(l))
}

// visible returns the entries that count now: those tied to no session,
// and those whose session lives. shown says whether an entry was counted
// last time, for when the API server cannot tell.
func (w *cmWatch) visible(ctx context.Context, shown func(*corev1.ConfigMap) bool) []*corev1.ConfigMap {
	now := time.Now()
	w.refresh(ctx, now)
	out := make([]*corev1.ConfigMap, 0, len(w.objs))
	for _, m := range w.objs {
		if w.live(ctx, m, now, shown) {
			out = append(out, m)
		}
	}
	return out
}

// refresh reads the namespace's sessions with one listing when the view
// cannot vouch for several of those behind the entries (missing, or
// expired): the session watch lags behind renewals when the API server is
// busy, and live would read each of them. What the listing finds is kept
// until the watch brings something later.
func (w *cmWatch) refresh(ctx context.Context, now time.Time) {
	unsure := map[string]bool{}
	for _, m := range w.objs {
		sn, tied := m.Labels[labelSession]
		if !tied || w.dead[sn] || unsure[sn] {
			continue
		}
		if l := w.sessions[sn]; l == nil || !now.Before(expiry(l)) {
			unsure[sn] = true
		}
	}
	if len(unsure) <= 2 {
		return // live reads them one by one
	}
	rctx, cancel := context.WithTimeout(ctx, driverkit.CleanupTimeout)
	defer cancel()
	list, err := w.c.leases.List(rctx, metav1.ListOptions{LabelSelector: w.c.sessionSelector()})
	if err != nil {
		return // live reads them one by one
	}
	for i := range list.Items {
		l := &list.Items[i]
		if was := w.sessions[l.Name]; was == nil || later(l.ResourceVersion, was.ResourceVersion) {
			w.sessions[l.Name] = l
		}
	}
}

// later reports whether resourceVersion rv of an object is later than
// was, of the same object; when either is not a number it cannot tell, and
// says yes (what was read last is kept).
func later(rv, was string) bool {
	a, err1 := strconv.ParseUint(rv, 10, 64)
	b, err2 := strconv.ParseUint(was, 10, 64)
	return err1 != nil || err2 != nil || a > b
}

// live reports whether m counts. The watch's view of the sessions may lag
// behind the ConfigMaps (two streams) and behind renewals, so a session
// that looks gone or expired is read from the API server before its
// entries are reported gone, and reaped when it really is.
func (w *cmWatch) live(ctx context.Context, m *corev1.ConfigMap, now time.Time, shown func(*corev1.ConfigMap) bool) bool {
	sn, tied := m.Labels[labelSession]
	switch {
	case !tied:
		return true
	case w.dead[sn]:
		return false
	}
	if l := w.sessions[sn]; l != nil && now.Before(expiry(l)) {
		return true
	}
	rctx, cancel := context.WithTimeout(ctx, driverkit.CleanupTimeout)
	defer cancel()
	l, err := w.c.liveSession(rctx, sn)
	if err != nil {
		return shown(m) // cannot tell: report no change
	}
	if l == nil {
		w.dead[sn] = true
		delete(w.sessions, sn)
		return false
	}
	w.sessions[sn] = l
	return true
}

// testBreak returns a channel that closes when a test breaks the watches
// (see breakWatches).
func (c *conn) testBreak() <-chan struct{} {
	c.testMu.Lock()
	defer c.testMu.Unlock()
	if c.testKick == nil {
		c.testKick = make(chan struct{})
	}
	return c.testKick
}

// testHeld waits while a test holds the watches back (breakWatches),
// reporting whether it did: the watch then lists anew.
func (c *conn) testHeld(ctx context.Context) bool {
	hold := c.testHold.Load()
	if hold == nil {
		return false
	}
	select {
	case <-*hold:
	case <-ctx.Done():
	}
	return true
}

// breakWatches is for tests: every running ConfigMap watch ends, and none
// starts again until hold is closed; then they list anew.
func (c *conn) breakWatches(hold chan struct{}) {
	c.testHold.Store(&hold)
	c.testMu.Lock()
	if c.testKick != nil {
		close(c.testKick)
	}
	c.testKick = make(chan struct{})
	c.testMu.Unlock()
}
