// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// ownership is one successful Acquire. The holder's validity deadline is
// kept locally, counted from the start of the call that last set the
// lock's TTL on the server, minus an allowance for clock drift, and never
// later than the session's own local deadline (the lock dies with the
// session): Lost closes when it passes without a successful refresh,
// before the server can hand the lock to anyone else.
type ownership struct {
	*driverkit.Hold // Lost, OnLost
	c               *conn
	lk              string // lock key
	tok             string // random token of this contender
	sid             string // session it is tied to
	ttl             time.Duration
	fence           uint64

	// guarded by c.mu
	deadline  time.Time // local validity deadline
	refreshed time.Time // start of the last successful TTL refresh
	ended     bool
	releasing bool // Release is running: a refresh that misses it is no loss
}

// FencingToken implements tooz.Ownership.
func (o *ownership) FencingToken() uint64 { return o.fence }

// Release implements tooz.Ownership: a script deletes the lock if it still
// carries this token and hands it to the first waiter.
func (o *ownership) Release(ctx context.Context) error {
	c := o.c
	c.mu.Lock()
	ended := o.ended
	o.releasing = true
	c.mu.Unlock()
	if ended {
		return tooz.ErrLockNotHeld
	}
	r, err := c.run(ctx, scriptDrop, []string{o.lk, c.ikey(o.sid)}, c.p, o.tok, "").Int64()
	c.end(o)
	if err != nil {
		return c.mapErr(ctx, err)
	}
	if r == 0 {
		return tooz.ErrLockNotHeld
	}
	return nil
}

// waiter is a queued Acquire, poked when the lock is granted to it (with
// the fencing token) or when the grant channel was replaced (a grant may
// have been missed: it rechecks).
type waiter struct {
	wake  chan struct{}
	fence atomic.Uint64 // set by a grant
}

func (w *waiter) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// await waits up to d for a wake-up; it reports false when ctx ended first.
func (w *waiter) await(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-w.wake:
	case <-t.C:
	}
	return true
}

func (w *waiter) grant(fence uint64) {
	w.fence.Store(fence)
	w.poke()
}

// Acquire implements tooz.CoordinationDriver. The lock is a hash set only
// if absent, with a random token, the session ID, the member ID and a
// fencing token from a per-lock counter, all in one script. Waiters queue
// first in first served; the script that frees the lock hands it to the
// first live waiter and publishes the grant on that waiter's conn channel,
// so only that waiter wakes. A waiter at the head of the queue also
// rechecks when the holder's TTL would run out (a holder that stopped
// refreshing frees the lock without any script running); the others fall
// back to a bounded exponential back-off.
func (c *conn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	sid, err := c.current()
	if err != nil {
		return nil, err
	}
	ttl := res.TTL
	if ttl <= 0 {
		ttl = c.lockTTL
		if res.Kind == tooz.KindElection {
			ttl = c.timeout
		}
	}
	o := &ownership{c: c, lk: c.lockKey(res), tok: driverkit.NewID(), sid: sid, ttl: ttl, Hold: driverkit.NewHold()}
	entry := o.tok + "|" + sid + "|" + c.cid + "|" + ms(ttl) + "|" + c.member
	if wait && !c.grantsReady() {
		// The common uncontended case needs no subscription: try first.
		st, err := c.acquireOnce(ctx, o, false, entry)
		if err != nil || st.code != 0 {
			return c.acquired(ctx, o, st, err)
		}
		if err := c.startGrants(ctx); err != nil {
			return nil, err
		}
	}
	if !wait {
		st, err := c.acquireOnce(ctx, o, false, entry)
		if err == nil && st.code == 0 {
			return nil, tooz.ErrNotAcquired
		}
		return c.acquired(ctx, o, st, err)
	}
	w := &waiter{wake: make(chan struct{}, 1)}
	c.mu.Lock()
	c.waiters[o.tok] = w
	c.scheduleReapLocked(c.reapNext)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, o.tok)
		c.mu.Unlock()
	}()
	st, err := c.acquireOnce(ctx, o, true, entry)
	if err != nil {
		c.withdraw(ctx, o, entry)
		return nil, err
	}
	if st.code != 0 {
		return c.acquired(ctx, o, st, nil)
	}
	return c.wait(ctx, o, w, entry, st)
}

// status is a decoded acquire or poll answer.
type status struct {
	code  int64 // 1 acquired, 0 waiting / not acquired, -1 session gone, -2 not queued
	fence uint64
	pttl  int64 // the holder's remaining TTL in ms
	pos   int64 // position in the queue, from 1
	start time.Time
}

func (c *conn) acquireOnce(ctx context.Context, o *ownership, wait bool, entry string) (status, error) {
	flag := "0"
	if wait {
		flag = "1"
	}
	return c.lockScript(ctx, scriptAcquire, []string{o.lk, c.skey(o.sid), c.ikey(o.sid)},
		c.p, o.tok, o.sid, c.cid, ms(o.ttl), c.member, flag, entry)
}

func (c *conn) poll(ctx context.Context, o *ownership, entry string) (status, error) {
	return c.lockScript(ctx, scriptPoll, []string{o.lk, c.skey(o.sid)}, c.p, o.tok, entry, ms(o.ttl))
}

// codeHolderDead is the answer of scriptAcquire and scriptPoll when the
// lock's holder's session is dead: reaping a session is left to
// scriptFreeDeadHolder, so that the scripts run on every acquisition do
// not carry the library that reaping needs.
const codeHolderDead = -4

// lockScript runs scriptAcquire or scriptPoll (keys[0] is the lock) and
// decodes its answer, through reapingHolder.
func (c *conn) lockScript(ctx context.Context, s *goredis.Script, keys []string, args ...any) (status, error) {
	var st status
	err := c.reapingHolder(ctx, keys[0], func() (bool, error) {
		st = status{start: time.Now()}
		v, err := c.run(ctx, s, keys, args...).Slice()
		if err != nil {
			return false, c.mapErr(ctx, err)
		}
		st, err = decodeStatus(st, v)
		return err == nil && st.code == codeHolderDead, err
	})
	return st, err
}

// reapingHolder calls ask, a script on lock lk; when ask reports that the
// holder's session is dead (codeHolderDead), it has scriptFreeDeadHolder
// reap it and asks again. Each reaping frees the lock or gives it to a
// live waiter, so the second answer is final; the bound only guards
// against damage.
func (c *conn) reapingHolder(ctx context.Context, lk string, ask func() (dead bool, err error)) error {
	for range 4 {
		dead, err := ask()
		if err != nil || !dead {
			return err
		}
		if err := c.run(ctx, scriptFreeDeadHolder, []string{lk}, c.p).Err(); err != nil {
			return c.mapErr(ctx, err)
		}
	}
	return fmt.Errorf("tooz/redis: the holder of %s is still reported dead after reaping it", lk)
}

func decodeStatus(st status, v []any) (status, error) {
	if len(v) == 0 {
		return st, fmt.Errorf("empty script answer")
	}
	var err error
	if st.code, err = toInt(v[0]); err != nil {
		return st, err
	}
	switch {
	case st.code == 1 && len(v) == 2:
		s, _ := v[1].(string)
		if st.fence, err = strconv.ParseUint(s, 10, 64); err != nil {
			return st, fmt.Errorf("bad fencing token %q", s)
		}
	case st.code == 0 && len(v) == 3:
		st.pttl, _ = toInt(v[1])
		st.pos, _ = toInt(v[2])
	}
	return st, nil
}

// acquired turns a final answer into the call's result.
func (c *conn) acquired(ctx context.Context, o *ownership, st status, err error) (tooz.Ownership, error) {
	switch {
	case err != nil:
		return nil, err
	case st.code == -1:
		return nil, errSessionGone
	case st.code != 1:
		return nil, tooz.ErrNotAcquired
	}
	o.fence = st.fence
	c.mu.Lock()
	if c.closed || c.sid != o.sid {
		closed := c.closed
		c.mu.Unlock()
		c.bgDrop(o)
		if closed {
			return nil, tooz.ErrClosed
		}
		return nil, errSessionGone
	}
	o.refreshed = st.start
	o.deadline = c.capLocked(driverkit.ValidUntil(st.start, o.ttl))
	c.held[o] = struct{}{}
	c.scheduleLockLocked(o)
	c.mu.Unlock()
	return o, nil
}

// wait waits in the queue until the lock is granted or ctx ends.
//
// A grant message carries the fencing token, and is taken without another
// round trip when the waiter's last request that found it still queued
// started less than half a TTL ago: that request ran before the grant, so
// the server keeps the lock at least a TTL after the request's start, which
// is where the local deadline counts from. Otherwise a poll confirms the
// grant and refreshes the TTL.
func (c *conn) wait(ctx context.Context, o *ownership, w *waiter, entry string, st status) (tooz.Ownership, error) {
	slow := driverkit.Backoff{Min: c.timeout, Max: 2 * c.timeout}
	errs := driverkit.Backoff{Min: 20 * time.Millisecond, Max: time.Second}
	for {
		var d time.Duration
		switch {
		case errs.Current() > 0:
			d = errs.Current()
		case st.pos == 1:
			// Next in line: recheck when the holder's TTL would run out.
			d = min(max(time.Duration(st.pttl)*time.Millisecond+5*time.Millisecond, 5*time.Millisecond), c.timeout)
		default:
			d = slow.Next()
		}
		if !w.await(ctx, d) {
			c.withdraw(ctx, o, entry)
			return nil, ctx.Err()
		}
		if _, err := c.current(); err != nil {
			return nil, err
		}
		if f := w.fence.Load(); f != 0 && time.Since(st.start) < o.ttl/2 {
			return c.acquired(ctx, o, status{code: 1, fence: f, start: st.start}, nil)
		}
		next, err := c.poll(ctx, o, entry)
		if err != nil {
			if ctx.Err() != nil {
				c.withdraw(ctx, o, entry)
				return nil, ctx.Err()
			}
			errs.Next()
			continue
		}
		errs.Reset()
		switch next.code {
		case 0:
			if next.pos != st.pos {
				slow.Reset()
			}
			st = next
		case -2:
			// The entry vanished (data lost on the server): queue again.
			next, err = c.acquireOnce(ctx, o, true, entry)
			if err != nil {
				errs.Next()
				continue
			}
			if next.code == 0 {
				st = next
				continue
			}
			return c.acquired(ctx, o, next, nil)
		default:
			return c.acquired(ctx, o, next, nil)
		}
	}
}

// withdraw takes a waiter out of the queue (releasing the lock if it was
// granted meanwhile), on a context of its own since ctx may have ended.
func (c *conn) withdraw(ctx context.Context, o *ownership, entry string) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(c.timeout/2, time.Second))
	defer cancel()
	if err := c.run(wctx, scriptDrop, []string{o.lk, c.ikey(o.sid)}, c.p, o.tok, entry).Err(); err != nil {
		c.log.Warn("tooz/redis: withdrawing a waiter failed; its entry goes with its session", "err", c.mapErr(wctx, err))
	}
}

// bgDrop releases o on the server in the background, best effort: for an
// ownership already reported lost, so that the next waiter need not wait
// for the TTL.
func (c *conn) bgDrop(o *ownership) {
	c.background(func(ctx context.Context) {
		_ = c.run(ctx, scriptDrop, []string{o.lk, c.ikey(o.sid)}, c.p, o.tok, "").Err()
	})
}

// background runs f, best effort, on a goroutine that Close waits for,
// with a short context of its own; after Close it does nothing.
func (c *conn) background(f func(ctx context.Context)) {
	c.tasks.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), max(c.timeout/2, time.Second))
		defer cancel()
		f(ctx)
	})
}

// Owner implements tooz.CoordinationDriver. A holder whose session expired
// is reaped first, so the answer is a live member.
func (c *conn) Owner(ctx context.Context, res tooz.Resource) (string, error) {
	if _, err := c.current(); err != nil {
		return "", err
	}
	lk := c.lockKey(res)
	var m string
	err := c.reapingHolder(ctx, lk, func() (bool, error) {
		v, err := c.run(ctx, scriptOwner, []string{lk}, c.p).Result()
		if err == goredis.Nil {
			return false, tooz.ErrNoLeader
		}
		if err != nil {
			return false, c.mapErr(ctx, err)
		}
		if n, ok := v.(int64); ok && n == codeHolderDead {
			return true, nil
		}
		s, ok := v.(string)
		if !ok {
			return false, fmt.Errorf("tooz/redis: unexpected owner answer %T", v)
		}
		m = s
		return false, nil
	})
	if err != nil {
		return "", err
	}
	return m, nil
}

// end ends o locally: it stops being refreshed and Lost closes.
func (c *conn) end(o *ownership) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(o)
	c.unscheduleLocked()
}

func (c *conn) endLocked(o *ownership) bool {
	if o.ended {
		return false
	}
	o.ended = true
	delete(c.held, o)
	o.End()
	return true
}

// lose ends o because the server no longer records it or its deadline
// passed; with release it also frees it on the server, best effort.
func (c *conn) lose(o *ownership, release bool) {
	c.mu.Lock()
	quiet := o.releasing
	ok := c.endLocked(o)
	c.unscheduleLocked()
	c.mu.Unlock()
	if !ok || quiet {
		return
	}
	c.log.Warn("tooz/redis: lock lost", "key", o.lk)
	if release {
		c.bgDrop(o)
	}
}

// renewedLocked records a successful TTL refresh of o that started at start
// (c.mu held); the caller re-arms the lock timers.
func (c *conn) renewedLocked(o *ownership, start time.Time) {
	if o.ended {
		return
	}
	if d := c.capLocked(driverkit.ValidUntil(start, o.ttl)); d.After(o.deadline) {
		o.deadline = d
	}
	if start.After(o.refreshed) {
		o.refreshed = start
	}
}

// refreshed applies the answer of a refresh of owns that started at start
// (res[i] is 1 for a renewed lock, 0 for one the server no longer
// records), and re-arms the lock timers once for all of them: a beat
// costs O(held locks), not O(held locks²).
func (c *conn) refreshed(owns []*ownership, res []int64, start time.Time) {
	var lost []*ownership
	c.mu.Lock()
	for i, o := range owns {
		if res[i] == 1 {
			c.renewedLocked(o, start)
		} else {
			lost = append(lost, o)
		}
	}
	c.scheduleLocksLocked()
	c.mu.Unlock()
	for _, o := range lost {
		c.lose(o, false)
	}
}

// capLocked bounds a lock deadline by the session's.
func (c *conn) capLocked(d time.Time) time.Time {
	if c.sessUntil.Before(d) {
		return c.sessUntil
	}
	return d
}

// scheduleLocksLocked arms the conn's two lock timers: expiry at the
// earliest local deadline, refresh when a lock is half-way through its TTL
// without a refresh (the heart refreshes every lock at each beat, a third
// of the timeout; this covers locks with a shorter TTL and a late heart).
//
// It scans every held lock: the timer callbacks and the refreshes call it,
// once for all the locks they handled. A lock taken only brings the timers
// forward (scheduleLockLocked) and a lock given up leaves them as they are
// (unscheduleLocked), so that neither costs O(held locks): a timer that
// fires for a lock since given up finds nothing due, or refreshes early.
func (c *conn) scheduleLocksLocked() {
	if c.closed || len(c.held) == 0 {
		c.stopLockTimersLocked()
		return
	}
	var first, due time.Time
	for o := range c.held {
		if first.IsZero() || o.deadline.Before(first) {
			first = o.deadline
		}
		if d := o.refreshed.Add(o.ttl / 2); due.IsZero() || d.Before(due) {
			due = d
		}
	}
	c.armExpiryLocked(first)
	if !c.refreshOn {
		c.armRefreshLocked(due)
	}
}

// scheduleLockLocked brings the lock timers forward for o, just taken.
func (c *conn) scheduleLockLocked(o *ownership) {
	if c.closed {
		return
	}
	if c.expiryAt.IsZero() || o.deadline.Before(c.expiryAt) {
		c.armExpiryLocked(o.deadline)
	}
	if due := o.refreshed.Add(o.ttl / 2); !c.refreshOn && (c.refreshAt.IsZero() || due.Before(c.refreshAt)) {
		c.armRefreshLocked(due)
	}
}

// unscheduleLocked stops the lock timers once no lock is held.
func (c *conn) unscheduleLocked() {
	if c.closed || len(c.held) == 0 {
		c.stopLockTimersLocked()
	}
}

func (c *conn) stopLockTimersLocked() {
	for _, t := range []*time.Timer{c.expiry, c.refresh} {
		if t != nil {
			t.Stop()
		}
	}
	c.expiryAt, c.refreshAt = time.Time{}, time.Time{}
}

func (c *conn) armExpiryLocked(at time.Time)  { arm(&c.expiry, &c.expiryAt, at, c.expire) }
func (c *conn) armRefreshLocked(at time.Time) { arm(&c.refresh, &c.refreshAt, at, c.refreshDue) }

// arm sets *t to fire at at (making it, to run f, on first use) and
// records at in *when.
func arm(t **time.Timer, when *time.Time, at time.Time, f func()) {
	*when = at
	if *t == nil {
		*t = time.AfterFunc(time.Until(at), f)
	} else {
		(*t).Reset(time.Until(at))
	}
}

// expire closes Lost of every ownership whose local deadline passed.
func (c *conn) expire() {
	now := time.Now()
	c.mu.Lock()
	c.expiryAt = time.Time{} // fired
	var gone []*ownership
	for o := range c.held {
		if !o.deadline.After(now) && c.endLocked(o) {
			gone = append(gone, o)
		}
	}
	c.scheduleLocksLocked()
	c.mu.Unlock()
	for _, o := range gone {
		c.log.Warn("tooz/redis: lock lost: no successful refresh before its deadline", "key", o.lk)
		c.bgDrop(o)
	}
}

// refreshDue refreshes every held lock in one script.
func (c *conn) refreshDue() {
	c.mu.Lock()
	c.refreshAt = time.Time{} // fired
	if c.closed || c.refreshOn || len(c.held) == 0 || !c.tasks.Enter() {
		c.mu.Unlock()
		return
	}
	c.refreshOn = true
	sid := c.sid
	owns := make([]*ownership, 0, len(c.held))
	first := time.Time{}
	for o := range c.held {
		owns = append(owns, o)
		if first.IsZero() || o.deadline.Before(first) {
			first = o.deadline
		}
	}
	c.mu.Unlock()
	defer c.tasks.Leave()
	start := time.Now()
	keys := []string{c.skey(sid)}
	args := []any{c.p}
	for _, o := range owns {
		keys = append(keys, o.lk)
		args = append(args, o.tok, ms(o.ttl))
	}
	if limit := start.Add(10 * time.Millisecond); first.Before(limit) {
		first = limit
	}
	ctx, cancel := context.WithDeadline(context.Background(), first)
	res, err := c.run(ctx, scriptRefresh, keys, args...).Int64Slice()
	cancel()
	if err == nil && len(res) == len(owns) {
		c.refreshed(owns, res, start)
	}
	c.mu.Lock()
	c.refreshOn = false
	if err != nil {
		// Try again soon; the expiry timer ends what cannot be renewed in time.
		for o := range c.held {
			if o.refreshed.Before(start) {
				o.refreshed = o.refreshed.Add(min(o.ttl/10, time.Second))
			}
		}
	}
	c.scheduleLocksLocked()
	c.mu.Unlock()
}

// grantsReady reports whether the grant subscription is confirmed.
func (c *conn) grantsReady() bool {
	c.mu.Lock()
	g := c.grants
	c.mu.Unlock()
	if g == nil {
		return false
	}
	select {
	case <-g.ready:
		return true
	default:
		return false
	}
}

// grants receives the conn's lock grants.
type grantSub struct {
	c     *conn
	sub   *subscription
	ready chan struct{}
}

// startGrants subscribes to the conn's grant channel, once, and waits
// until the subscription is confirmed.
func (c *conn) startGrants(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return tooz.ErrClosed
	}
	g := c.grants
	if g == nil {
		g = &grantSub{c: c, ready: make(chan struct{})}
		g.sub = newSubscription(c, c.grantChan(), g)
		c.grants = g
		g.sub.start()
	}
	c.mu.Unlock()
	select {
	case <-g.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *grantSub) stop() { g.sub.close() }

// confirmed implements handler: after a reconnect every waiter rechecks.
func (g *grantSub) confirmed(first bool) {
	if first {
		close(g.ready)
		return
	}
	g.c.mu.Lock()
	for _, w := range g.c.waiters {
		w.poke()
	}
	g.c.mu.Unlock()
}

// message implements handler: the payload is "<token> <fencing token>" of
// a waiter granted a lock.
func (g *grantSub) message(payload string) {
	tok, f, _ := strings.Cut(payload, " ")
	fence, err := strconv.ParseUint(f, 10, 64)
	g.c.mu.Lock()
	w := g.c.waiters[tok]
	g.c.mu.Unlock()
	switch {
	case w == nil:
	case err != nil || fence == 0:
		w.poke()
	default:
		w.grant(fence)
	}
}

func (g *grantSub) pending(context.Context) bool { return true }

// noteEarliest records the server's answer "the next session deadline is
// in msUntil ms" (-1: no session) and re-arms the reaper.
func (c *conn) noteEarliest(msUntil int64) {
	d := c.timeout
	if msUntil >= 0 {
		d = time.Duration(msUntil)*time.Millisecond + 2*time.Millisecond
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reapNext = d
	c.reapDue = time.Time{}
	c.scheduleReapLocked(d)
}

// scheduleReapLocked arms the reaper timer, which runs the reaping script
// at the earliest session deadline while this conn watches a group or
// waits for a lock, so that a member that stopped beating is removed (with
// its leave event, and its locks handed over) within moments of its
// deadline even between heartbeats.
func (c *conn) scheduleReapLocked(d time.Duration) {
	if c.closed || len(c.watches) == 0 && len(c.waiters) == 0 {
		return
	}
	d = min(max(d, 5*time.Millisecond), c.timeout)
	due := time.Now().Add(d)
	if !c.reapDue.IsZero() && c.reapDue.Before(due) && time.Until(c.reapDue) > 0 {
		return // an earlier run is already due
	}
	c.reapDue = due
	if c.reaper == nil {
		c.reaper = time.AfterFunc(d, c.reapTick)
	} else {
		c.reaper.Reset(d)
	}
}

func (c *conn) reapTick() {
	c.mu.Lock()
	c.reapDue = time.Time{}
	if c.closed || len(c.watches) == 0 && len(c.waiters) == 0 || !c.tasks.Enter() {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	defer c.tasks.Leave()
	ctx, cancel := context.WithTimeout(context.Background(), max(c.timeout/2, 100*time.Millisecond))
	next, err := c.run(ctx, scriptReap, []string{c.sessionsKey()}, c.p).Int64()
	cancel()
	if err != nil {
		next = min(c.timeout/4, time.Second).Milliseconds()
	}
	c.noteEarliest(next)
}
