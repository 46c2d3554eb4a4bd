// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
)

// Semaphores and read/write locks (tooz.SharedAcquirer).
//
// A semaphore's (read/write lock's) contenders are a sorted set P:sem:<name>
// (P:rw:<name>) of random tokens scored by a ticket from a per-name counter
// raised to the server clock first, as lock fencing tokens are: the queue
// order and the fencing token. Each token's entry "sid|cid|mode|limit|
// ticket|member" is in the hash :e, and the tokens granted so far in the
// set :h. Every script that changes the queue walks it (promote_shared in
// scripts.go): it drops contenders whose session died, skips entries that do
// not decode (logged by the server; ZREM clears one), and grants every
// contender that holds by the rule of tooz.Share.Holds, publishing each
// grant on that contender's conn channel — so a freed permit wakes only the
// waiters it lets in. Contenders are tied to the session alone (no lock
// TTL): the session's index lists them ("p" fields), so a session that
// ends, or expires and is reaped, takes them out of their queues.

func (c *conn) sharedKey(res tooz.Resource) string {
	if res.Kind == tooz.KindRWLock {
		return c.p + ":rw:" + keyspace.Escape(res.Name)
	}
	return c.p + ":sem:" + keyspace.Escape(res.Name)
}

// scriptAcquireShared: KEYS queue, session, index; ARGV P, tok, sid, cid,
// mode, limit, member, wait (1|0). {-1} no session; {-3, limit} the oldest
// contender has another limit (nothing queued); {1, ticket} holds; {0,
// ticket} queued; {0, 0} not holding and not waiting (nothing queued).
var scriptAcquireShared = script(`
local K, tok = KEYS[1], ARGV[2]
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
local oldest = promote_shared(K, '')
local limit = tonumber(ARGV[6])
if oldest and oldest.limit ~= limit then return {-3, oldest.limit} end
local fence = next_fence(K .. ':f')
redis.call('ZADD', K, fence, tok)
redis.call('HSET', K .. ':e', tok, ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[6] .. '|' .. fence .. '|' .. ARGV[7])
redis.call('HSET', KEYS[3], 'p' .. tok, K)
promote_shared(K, tok)
if redis.call('SISMEMBER', K .. ':h', tok) == 1 then return {1, fence} end
if ARGV[8] == '1' then return {0, fence} end
drop_shared(K, tok)
return {0, 0}
`)

// scriptPollShared: KEYS queue, session; ARGV P, tok. {-1} no session, {-2}
// not queued any more, {1, ticket} holds, {0} waits.
var scriptPollShared = script(`
local K, tok = KEYS[1], ARGV[2]
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
promote_shared(K, tok)
local e = parse_shared(redis.call('HGET', K .. ':e', tok))
if not e then return {-2} end
if redis.call('SISMEMBER', K .. ':h', tok) == 1 then return {1, e.fence} end
return {0}
`)

// scriptDropShared: KEYS queue; ARGV P, tok. 1 it held, 0 it waited, -1 gone.
var scriptDropShared = script(`
return drop_shared(KEYS[1], ARGV[2])
`)

// scriptHoldersShared: KEYS queue; ARGV P. The members of the contenders
// that hold, in queue order.
var scriptHoldersShared = script(`
local K = KEYS[1]
promote_shared(K, '')
local out = {}
for _, tok in ipairs(redis.call('ZRANGE', K, 0, -1)) do
  if redis.call('SISMEMBER', K .. ':h', tok) == 1 then
    local e = parse_shared(redis.call('HGET', K .. ':e', tok))
    if e then out[#out + 1] = e.mem end
  end
end
return out
`)

// sharedOwn is one held permit or read/write lock holding. It lasts as
// long as the session: the Coordinator's liveness deadline, which passes
// before the session key's, ends it first.
type sharedOwn struct {
	*driverkit.Hold // Lost, OnLost
	c               *conn
	key             string
	tok             string
	fence           uint64
	ended           bool // guarded by c.mu
}

// FencingToken implements tooz.Ownership: the contender's ticket.
func (o *sharedOwn) FencingToken() uint64 { return o.fence }

// end closes Lost once; it reports whether this call did.
func (o *sharedOwn) end() bool {
	o.c.mu.Lock()
	defer o.c.mu.Unlock()
	if o.ended {
		return false
	}
	o.ended = true
	delete(o.c.shared, o)
	o.End()
	return true
}

// Release implements tooz.Ownership: one script takes the contender out
// and grants what that frees.
func (o *sharedOwn) Release(ctx context.Context) error {
	if !o.end() {
		return tooz.ErrLockNotHeld
	}
	r, err := o.c.run(ctx, scriptDropShared, []string{o.key}, o.c.p, o.tok).Int64()
	if err != nil {
		o.c.dropSharedLater(o.key, o.tok)
		return o.c.mapErr(ctx, err)
	}
	if r != 1 {
		return fmt.Errorf("%w: Redis no longer records this contender", tooz.ErrLockNotHeld)
	}
	return nil
}

// endShared ends every shared holding locally (the session is gone or closing).
func (c *conn) endShared() {
	c.mu.Lock()
	all := slices.Collect(maps.Keys(c.shared))
	c.mu.Unlock()
	for _, o := range all {
		o.end()
	}
}

// dropSharedLater takes a contender out in the background, best effort
// (the session's end takes it out otherwise).
func (c *conn) dropSharedLater(key, tok string) {
	c.background(func(ctx context.Context) {
		if err := c.run(ctx, scriptDropShared, []string{key}, c.p, tok).Err(); err != nil {
			c.log.Warn("tooz/redis: withdrawing a contender failed; it goes with its session", "err", c.mapErr(ctx, err))
		}
	})
}

// AcquireShared implements tooz.SharedAcquirer.
func (c *conn) AcquireShared(ctx context.Context, res tooz.Resource, sh tooz.Share, wait bool) (tooz.Ownership, error) {
	sid, err := c.current()
	if err != nil {
		return nil, err
	}
	key, tok := c.sharedKey(res), driverkit.NewID()
	mode := "s"
	if sh.Exclusive {
		mode = "x"
	}
	try := func(ctx context.Context, wait bool) ([]any, error) {
		flag := "0"
		if wait {
			flag = "1"
		}
		return c.run(ctx, scriptAcquireShared, []string{key, c.skey(sid), c.ikey(sid)},
			c.p, tok, sid, c.cid, mode, strconv.Itoa(sh.Limit), c.member, flag).Slice()
	}
	if wait && !c.grantsReady() {
		// The common uncontended case needs no subscription: try first.
		v, err := try(ctx, false)
		if own, done, err := c.sharedAnswer(ctx, sh, sid, key, tok, v, err); done {
			return own, err
		}
		if err := c.startGrants(ctx); err != nil {
			return nil, err
		}
		tok = driverkit.NewID()
	}
	if !wait {
		v, err := try(ctx, false)
		own, done, err := c.sharedAnswer(ctx, sh, sid, key, tok, v, err)
		if !done {
			return nil, tooz.ErrNotAcquired
		}
		return own, err
	}
	w := &waiter{wake: make(chan struct{}, 1)}
	c.mu.Lock()
	c.waiters[tok] = w
	c.scheduleReapLocked(c.reapNext)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, tok)
		c.mu.Unlock()
	}()
	v, err := try(ctx, true)
	if err != nil {
		c.dropSharedLater(key, tok) // the entry may have been added
		return nil, c.mapErr(ctx, err)
	}
	if own, done, err := c.sharedAnswer(ctx, sh, sid, key, tok, v, nil); done {
		return own, err
	}
	return c.waitShared(ctx, sid, key, tok, w)
}

// sharedAnswer turns an acquire or poll answer into a result; done is
// false when the contender waits (or, without waiting, was refused).
func (c *conn) sharedAnswer(ctx context.Context, sh tooz.Share, sid, key, tok string, v []any, err error) (_ tooz.Ownership, done bool, _ error) {
	if err != nil {
		return nil, true, c.mapErr(ctx, err)
	}
	if len(v) == 0 {
		return nil, true, fmt.Errorf("empty script answer")
	}
	code, err := toInt(v[0])
	if err != nil {
		return nil, true, err
	}
	switch {
	case code == -1:
		return nil, true, errSessionGone
	case code == -2:
		return nil, true, fmt.Errorf("%w: the contender vanished from its queue while waiting", tooz.ErrSessionLost)
	case code == -3 && len(v) == 2:
		other, _ := toInt(v[1])
		return nil, true, sh.Agrees([]tooz.Share{{Limit: int(other)}})
	case code == 1 && len(v) == 2:
		s, _ := v[1].(string)
		fence, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			c.dropSharedLater(key, tok)
			return nil, true, fmt.Errorf("bad fencing token %q", s)
		}
		own, err := c.ownShared(sid, key, tok, fence)
		return own, true, err
	case code == 0:
		return nil, false, nil
	}
	return nil, true, fmt.Errorf("unexpected script answer %v", v)
}

// ownShared records a granted contender, unless the session changed or
// the conn closed meanwhile (then it is given back).
func (c *conn) ownShared(sid, key, tok string, fence uint64) (tooz.Ownership, error) {
	o := &sharedOwn{c: c, key: key, tok: tok, fence: fence, Hold: driverkit.NewHold()}
	c.mu.Lock()
	if c.closed || c.sid != sid {
		closed := c.closed
		c.mu.Unlock()
		c.dropSharedLater(key, tok)
		if closed {
			return nil, tooz.ErrClosed
		}
		return nil, errSessionGone
	}
	c.shared[o] = struct{}{}
	c.mu.Unlock()
	return o, nil
}

// waitShared waits for the grant of a queued contender. A grant message
// carries the ticket and is taken as it is (the script that sent it
// checked the session); a reconnected subscription pokes every waiter, and
// a slow back-off poll covers anything missed.
func (c *conn) waitShared(ctx context.Context, sid, key, tok string, w *waiter) (tooz.Ownership, error) {
	slow := driverkit.Backoff{Min: c.timeout, Max: 2 * c.timeout}
	errs := driverkit.Backoff{Min: 20 * time.Millisecond, Max: time.Second}
	for {
		d := slow.Next()
		if errs.Current() > 0 {
			d = errs.Current()
		}
		if !w.await(ctx, d) {
			c.withdrawShared(ctx, key, tok)
			return nil, ctx.Err()
		}
		if _, err := c.current(); err != nil {
			return nil, err
		}
		if f := w.fence.Load(); f != 0 {
			return c.ownShared(sid, key, tok, f)
		}
		v, err := c.run(ctx, scriptPollShared, []string{key, c.skey(sid)}, c.p, tok).Slice()
		if err != nil {
			if ctx.Err() != nil {
				c.withdrawShared(ctx, key, tok)
				return nil, ctx.Err()
			}
			errs.Next()
			continue
		}
		errs.Reset()
		if own, done, err := c.sharedAnswer(ctx, tooz.Share{}, sid, key, tok, v, nil); done {
			return own, err
		}
	}
}

// withdrawShared takes a waiter out of its queue (giving back what it was
// granted meanwhile), on a context of its own since ctx may have ended.
func (c *conn) withdrawShared(ctx context.Context, key, tok string) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(c.timeout/2, time.Second))
	defer cancel()
	if err := c.run(wctx, scriptDropShared, []string{key}, c.p, tok).Err(); err != nil {
		c.log.Warn("tooz/redis: withdrawing a waiter failed; its entry goes with its session", "err", c.mapErr(wctx, err))
	}
}

// Holders implements tooz.SharedAcquirer.
func (c *conn) Holders(ctx context.Context, res tooz.Resource) ([]string, error) {
	if _, err := c.current(); err != nil {
		return nil, err
	}
	v, err := c.run(ctx, scriptHoldersShared, []string{c.sharedKey(res)}, c.p).StringSlice()
	if err != nil {
		return nil, c.mapErr(ctx, err)
	}
	var ids []string
	for _, m := range v {
		if tooz.ValidateID(m) == nil {
			ids = append(ids, m)
		}
	}
	return ids, nil
}
