// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// contender is one Acquire's key: under the resource's prefix, the lease ID
// and a slot number. Slots are reused once their key is known deleted, so
// that a coordinator taking a lock over and over re-creates the same few
// keys instead of leaving a trail of deleted ones, which etcd keeps in its
// index until a compaction and every read of the queue would step over.
//
// A slot is never reused after a request on its key went unanswered (a
// timeout, a lost connection, a quorum loss): etcd may still apply that
// request later, after the key was deleted and created again by the next
// contender of the slot, and a late delete would then remove a live
// contender, the owner perhaps, so that another one is granted while it
// still holds. Such a slot stays taken for the lease's life.
type contender struct {
	l      *lease
	prefix string
	key    string
	slot   int
	unsure bool // a request on key went unanswered; guarded by conn.mu
}

// newContender takes the lowest free slot of l under prefix.
func (c *conn) newContender(l *lease, prefix string) *contender {
	c.mu.Lock()
	defer c.mu.Unlock()
	used := l.slots[prefix]
	if used == nil {
		used = map[int]struct{}{}
		l.slots[prefix] = used
	}
	slot := 0
	for {
		if _, ok := used[slot]; !ok {
			break
		}
		slot++
	}
	used[slot] = struct{}{}
	return &contender{l: l, prefix: prefix, slot: slot, key: fmt.Sprintf("%s%016x_%d", prefix, uint64(l.id), slot)}
}

// free gives the contender's slot back: its key is known not to exist.
// The slot of a contender marked unsure stays taken (see contender).
func (c *conn) free(ct *contender) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ct.unsure {
		return
	}
	if used := ct.l.slots[ct.prefix]; used != nil {
		delete(used, ct.slot)
		if len(used) == 0 {
			delete(ct.l.slots, ct.prefix)
		}
	}
}

// ownership is one contender key that owns its resource.
type ownership struct {
	*driverkit.Hold // Lost, OnLost; ends with the lease's scope
	c               *conn
	ct              *contender
	token           uint64 // the key's create revision
	// settled is set by whichever comes first of Release and the watch
	// seeing the key deleted by someone else; that one frees the slot.
	settled atomic.Bool
	// unwatch ends the watch of the key (watchOwned) at once, when it was
	// not ended yet; nil when the ownership follows it with a goroutine.
	unwatch func()
}

// FencingToken implements tooz.Ownership: the owner key's create revision.
func (o *ownership) FencingToken() uint64 { return o.token }

// Release implements tooz.Ownership: one Delete of the contender key.
//
// The key can only be the one this ownership created, not a later one of
// the same slot: the key names the lease, and the lease gives the slot to
// another contender only once this one is freed, below. So the delete
// needs no compare of the create revision (a transaction, which costs the
// server more than a plain delete).
func (o *ownership) Release(ctx context.Context) error {
	if o.Ended() || !o.settled.CompareAndSwap(false, true) {
		return tooz.ErrLockNotHeld
	}
	defer o.End()
	if o.unwatch != nil {
		o.unwatch() // here, rather than on a goroutine the end would start
	}
	resp, err := o.c.cli.Delete(ctx, o.ct.key)
	if err != nil {
		o.c.orphan(o.ct)
		return o.c.fail(ctx, nil, err)
	}
	o.c.free(o.ct)
	if resp.Deleted == 0 {
		return fmt.Errorf("%w: its etcd key is gone (lease expired or key deleted)", tooz.ErrLockNotHeld)
	}
	return nil
}

// leaseTTL returns the TTL, in seconds, of the lease res hangs on.
func (c *conn) leaseTTL(res tooz.Resource) int64 {
	switch {
	case res.TTL > 0:
		return ttlSeconds(res.TTL)
	case res.Kind == tooz.KindLock && c.lockTTL > 0:
		return ttlSeconds(c.lockTTL)
	}
	return c.mainTTL
}

// own registers a contender key that became owner, unless its lease died meanwhile.
func (c *conn) own(ct *contender, rev int64) (*ownership, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, tooz.ErrClosed
	}
	if ct.l.isDead() {
		return nil, fmt.Errorf("%w: the lease expired while acquiring", tooz.ErrSessionLost)
	}
	return &ownership{Hold: ct.l.scope.Hold(), c: c, ct: ct, token: uint64(rev)}, nil
}

// Acquire implements tooz.CoordinationDriver. Each call puts a contender
// key of its own (lease ID and a slot number) on the lease; the contender
// with the lowest create revision owns the resource.
//
// Without wait it is one transaction that creates the key only when no
// contender exists, else reports tooz.ErrNotAcquired (nothing is written).
// With wait it is one transaction that creates the key and reads the two
// newest contenders: when the key is the only one, it is the owner and
// that was the only round trip. Otherwise the contender waits for its
// predecessor's key to go (see waitTurn).
func (c *conn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l, err := c.leaseFor(ctx, c.leaseTTL(res))
	if err != nil {
		return nil, err
	}
	prefix := c.keys.resource(res)
	ct := c.newContender(l, prefix)
	key := ct.key
	put := clientv3.OpPut(key, c.member, clientv3.WithLease(l.id))
	if !wait {
		resp, err := c.enqueue(ctx, ct, func(tctx context.Context) (*clientv3.TxnResponse, error) {
			return c.cli.Txn(tctx).If(absent(key), noKeyUnder(prefix)).Then(put).Commit()
		})
		if err != nil {
			return nil, c.fail(ctx, l, err)
		}
		if !resp.Succeeded {
			c.free(ct) // nothing was written
			return nil, tooz.ErrNotAcquired
		}
		return c.ownOrWithdraw(ct, resp.Header.Revision)
	}
	// The key created here is the newest under prefix: it owns the
	// resource when it is the only one, and otherwise the newest but one
	// is its predecessor. One read says both.
	resp, err := c.enqueue(ctx, ct, func(tctx context.Context) (*clientv3.TxnResponse, error) {
		return c.cli.Txn(tctx).If(absent(key)).Then(
			put,
			clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
				clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend), clientv3.WithLimit(2)),
		).Commit()
	})
	if err != nil {
		return nil, c.fail(ctx, l, err)
	}
	if !resp.Succeeded {
		// Cannot happen (a slot is free only once its key is deleted);
		// the stray key is deleted by the next heartbeat.
		c.orphan(ct)
		return nil, fmt.Errorf("etcd: contender key %q exists already", key)
	}
	rev := resp.Header.Revision
	newest := rangeOf(resp, 1)
	if len(newest) == 1 && string(newest[0].Key) == key {
		return c.ownOrWithdraw(ct, rev)
	}
	pred := ""
	if len(newest) == 2 && string(newest[0].Key) == key {
		pred = string(newest[1].Key)
	}
	if err := c.waitTurn(ctx, l, prefix, key, rev, pred); err != nil {
		c.await(c.withdraw(ct))
		return nil, err
	}
	return c.ownOrWithdraw(ct, rev)
}

// enqueue runs the transaction that creates the contender's key. The
// transaction is not cancelled with ctx: when ctx ends first, enqueue
// returns ctx's error and leaves a goroutine to await the answer and delete
// the key if it was created. (Cancelling the request instead would leave no
// way to know whether etcd applied it, and a delete sent meanwhile could be
// applied before it, leaving a contender key that blocks the queue.) So
// the transaction runs on a goroutine of its own, unless ctx can never end
// (context.Background, or a context without its cancellation).
func (c *conn) enqueue(ctx context.Context, ct *contender, txn func(context.Context) (*clientv3.TxnResponse, error)) (*clientv3.TxnResponse, error) {
	type result struct {
		resp *clientv3.TxnResponse
		err  error
	}
	run := func() result {
		limit := max(enqueueTimeout, c.timeout)
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
		defer cancel()
		resp, err := txn(tctx)
		if err != nil && tctx.Err() != nil {
			err = fmt.Errorf("%w: no answer from etcd within %v: %w", tooz.ErrConnection, limit, err)
		}
		return result{resp, err}
	}
	var r result
	if ctx.Done() == nil {
		// ctx can never end, so the caller never leaves before the
		// answer: the transaction runs here, without the goroutine hop.
		r = run()
	} else {
		done := make(chan result, 1)
		if !c.run.Go(func() { done <- run() }) {
			return nil, tooz.ErrClosed
		}
		select {
		case r = <-done:
		case <-ctx.Done():
			c.await(c.background(func() {
				r := <-done
				if r.err != nil {
					c.markUnsure(ct)
				}
				if r.err != nil || r.resp.Succeeded {
					c.deleteKey(ct)
				} else {
					c.free(ct)
				}
			}))
			return nil, ctx.Err()
		}
	}
	if r.err != nil {
		c.markUnsure(ct)
		c.await(c.withdraw(ct)) // a lost answer may hide an applied transaction
	}
	return r.resp, r.err
}

// enqueueTimeout bounds the wait for the answer to the transaction that
// creates a contender key when the caller's context has no earlier deadline.
const enqueueTimeout = 10 * time.Second

// withdrawWait bounds how long an Acquire that gives up waits for its
// contender key to be deleted before it returns (the deletion goes on in
// the background after that): long enough for a healthy etcd, so that the
// queue no longer holds the key when Acquire returns, short enough not to
// hang when etcd is unreachable.
const withdrawWait = time.Second

// await waits for done, at most withdrawWait.
func (c *conn) await(done <-chan struct{}) {
	t := time.NewTimer(withdrawWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// background runs f in a goroutine that Close and Abandon wait for, unless
// the conn is closed. The returned channel closes when f returns.
func (c *conn) background(f func()) <-chan struct{} {
	done := make(chan struct{})
	if !c.run.Go(func() { defer close(done); f() }) {
		close(done)
	}
	return done
}

// ownOrWithdraw registers the ownership, or deletes the key when that fails.
func (c *conn) ownOrWithdraw(ct *contender, rev int64) (tooz.Ownership, error) {
	o, err := c.own(ct, rev)
	if err != nil {
		c.await(c.withdraw(ct))
		return nil, err
	}
	c.watchOwned(o, rev)
	return o, nil
}

// watchOwned ends o (its Lost closes) when its key is deleted while its
// lease lives: the ownership was revoked out of band (an operator's
// etcdctl del, a tool), and the next contender, which watches that key,
// owns the resource already. It watches from the key's create revision
// and stops when o ends (Release, the lease's loss, Close). All of a
// conn's owned keys share one watch stream and goroutine (deleteWatch);
// each gets a goroutine of its own only on a client that wraps its KV.
func (c *conn) watchOwned(o *ownership, from int64) {
	if c.dw != nil {
		remove := c.dw.add(o.ct.key, from, func() { c.ownedKeyGone(o) })
		stop := o.OnLost(remove)
		o.unwatch = func() {
			if stop() {
				remove()
			}
		}
		return
	}
	c.background(func() {
		ctx := o.Context()
		for ctx.Err() == nil {
			for wr := range c.cli.Watch(ctx, o.ct.key, clientv3.WithRev(from+1), clientv3.WithFilterPut()) {
				if wr.Err() != nil {
					break // compacted, or the watch broke: read the key instead
				}
				if hasDelete(wr.Events) {
					c.ownedKeyGone(o)
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			resp, err := c.cli.Get(ctx, o.ct.key, clientv3.WithKeysOnly())
			switch {
			case err == nil && resp.Count == 0:
				c.ownedKeyGone(o)
				return
			case err == nil:
				from = resp.Header.Revision
			default:
				c.mu.Lock()
				closed := c.closed
				c.mu.Unlock()
				if closed {
					return
				}
				driverkit.Sleep(ctx, c.timeout/4) // pacing after a failed read
			}
		}
	})
}

// ownedKeyGone ends o, whose key was deleted by someone else, unless it
// ended meanwhile or a Release began (which deletes the key too, and
// frees the slot itself: freed here, the slot could be the key of another
// contender before that Release's delete).
//
// The slot is given back before Lost closes, as Release does: a caller
// that acquires again when told of the loss reuses it, and so a lock lost
// and taken again and again does not walk up the slot numbers.
func (c *conn) ownedKeyGone(o *ownership) {
	if o.Ended() || !o.settled.CompareAndSwap(false, true) {
		return
	}
	c.free(o.ct) // harmless if the lease ended meanwhile: its slots die with it
	if o.End() {
		c.log.Warn("tooz/etcd: the owner key was deleted by someone else; the ownership is lost", "key", o.ct.key)
	}
}

// withdraw deletes a contender's key in the background; the returned
// channel closes when that is done.
func (c *conn) withdraw(ct *contender) <-chan struct{} {
	return c.background(func() { c.deleteKey(ct) })
}

// deleteKey deletes a contender's key on a context of its own; a key it
// cannot delete is left to the next heartbeat.
func (c *conn) deleteKey(ct *contender) {
	if c.isClosed() {
		return
	}
	ctx, cancel := driverkit.CleanupContext(context.Background())
	defer cancel()
	if _, err := c.cli.Delete(ctx, ct.key); err != nil {
		c.orphan(ct)
		c.log.Warn("tooz/etcd: could not withdraw a contender; the next heartbeat retries", "key", ct.key, "err", err)
		return
	}
	c.free(ct)
}

// errKeyGone reports a waiting contender whose own key vanished.
var errKeyGone = fmt.Errorf("%w: the contender's key vanished while waiting (lease expired or key deleted)", tooz.ErrSessionLost)

// standing reads, in one transaction, whether key still exists, whether it
// owns the resource, which contender is the newest one older than it, and
// whether that predecessor is the owner (then it is the only older one). It
// also returns the revision of the read.
func (c *conn) standing(ctx context.Context, l *lease, prefix, key string, rev int64) (st standing, err error) {
	resp, err := c.cli.Txn(ctx).Then(
		clientv3.OpGet(key, clientv3.WithCountOnly()),
		clientv3.OpGet(prefix, append(clientv3.WithFirstCreate(), clientv3.WithKeysOnly())...),
		clientv3.OpGet(prefix, append(clientv3.WithLastCreate(), clientv3.WithKeysOnly(), clientv3.WithMaxCreateRev(rev-1))...),
	).Commit()
	if err != nil {
		return st, c.fail(ctx, l, err)
	}
	if countOf(resp, 0) == 0 {
		return st, errKeyGone
	}
	st.at = resp.Header.Revision
	first := rangeOf(resp, 1)
	if len(first) > 0 && string(first[0].Key) == key {
		st.owner = true
		return st, nil
	}
	if older := rangeOf(resp, 2); len(older) > 0 && len(first) > 0 {
		st.pred = string(older[0].Key)
		st.predFirst = st.pred == string(first[0].Key)
		return st, nil
	}
	// Not first, yet nobody older: cannot happen within one transaction.
	return st, fmt.Errorf("etcd: inconsistent contender queue under %q", prefix)
}

// standing is where a waiting contender stands in its queue.
type standing struct {
	owner     bool   // it owns the resource
	pred      string // else the newest older contender's key
	predFirst bool   // and whether that one owns the resource
	at        int64  // the revision of the read
}

// waiter is one contender waiting for its turn.
type waiter struct {
	c      *conn
	l      *lease
	prefix string
	key    string
	rev    int64 // the key's create revision

	// self watches the contender's own key, so that a waiter whose lease
	// expires stops. It starts at a revision where the key was known to
	// exist, which etcd serves from its unsynced watcher set (caught up
	// every 100 ms): fine for noticing a loss, and it is created without
	// delaying the predecessor's watch (another stream: no leader
	// requirement) or being waited for. Nil after it broke.
	self       clientv3.WatchChan
	selfCancel context.CancelFunc
}

// watchSelf (re)starts the own-key watch after revision from.
func (w *waiter) watchSelf(ctx context.Context, from int64) {
	w.stopSelf()
	sctx, cancel := context.WithCancel(ctx)
	w.selfCancel = cancel
	w.self = w.c.cli.Watch(sctx, w.key, clientv3.WithRev(from+1), clientv3.WithFilterPut())
}

func (w *waiter) stopSelf() {
	if w.selfCancel != nil {
		w.selfCancel()
		w.selfCancel, w.self = nil, nil
	}
}

// read reads the waiter's standing and restarts a broken own-key watch.
func (w *waiter) read(ctx context.Context) (standing, error) {
	st, err := w.c.standing(ctx, w.l, w.prefix, w.key, w.rev)
	if err == nil && !st.owner && w.self == nil {
		w.watchSelf(ctx, st.at)
	}
	return st, err
}

// selfEvent handles a response of the own-key watch.
func (w *waiter) selfEvent(ctx context.Context, wr clientv3.WatchResponse, ok bool) error {
	if !ok || wr.Err() != nil {
		w.stopSelf()
		return w.c.watchErr(ctx, wr, ok)
	}
	if hasDelete(wr.Events) {
		return errKeyGone
	}
	return nil
}

// waitTurn waits until key owns the resource. It watches only the
// predecessor's key (no thundering herd) and its own key (a contender
// whose lease expires stops waiting with tooz.ErrSessionLost). The
// predecessor's watch starts at the current revision — a watch from a past
// revision lands in etcd's unsynced watcher set, caught up only every
// 100 ms — and the queue is read again once it is in place, so that a
// deletion before the watch started is not missed.
func (c *conn) waitTurn(ctx context.Context, l *lease, prefix, key string, rev int64, pred string) error {
	w := &waiter{c: c, l: l, prefix: prefix, key: key, rev: rev}
	defer w.stopSelf()
	w.watchSelf(ctx, rev)
	wctx := clientv3.WithRequireLeader(ctx)
	for {
		if pred == "" {
			st, err := w.read(ctx)
			if err != nil || st.owner {
				return err
			}
			pred = st.pred
		}
		next, err := w.watchPredecessor(ctx, wctx, pred)
		switch {
		case err == nil && next == "":
			return nil
		case err == nil:
			pred = next // the predecessor went before its watch was in place
		case errors.Is(err, errPredGone), errors.Is(err, errWatchBroke):
			pred = "" // read the queue again (and watch from the current revision)
		default:
			return err
		}
	}
}

// errPredGone reports that the watched predecessor's key was deleted.
var errPredGone = errors.New("predecessor gone")

// errWatchBroke reports a watch that ended while the wait goes on.
var errWatchBroke = errors.New("watch broke")

// watchPredecessor watches pred's key from the current revision, reads the
// queue once the watch is in place, and waits for pred to go. It returns
// ("", nil) when the waiter owns the resource, (p, nil) when the read found
// another predecessor p, errPredGone when pred was deleted, errWatchBroke
// when a watch ended, or the error that ends the wait.
//
// When the read found pred to be the owner, it was the only contender older
// than the waiter (younger ones have higher revisions), so its deletion
// makes the waiter the owner with no further read: the hand-over costs the
// releaser's delete and one watch event.
func (w *waiter) watchPredecessor(ctx, wctx context.Context, pred string) (string, error) {
	wctx, cancel := context.WithCancel(wctx)
	defer cancel()
	predCh := w.c.cli.Watch(wctx, pred, clientv3.WithFilterPut(), clientv3.WithCreatedNotify())
	if err := w.wait(ctx, predCh, true, 0); err != nil {
		return "", err
	}
	st, err := w.read(ctx)
	switch {
	case err != nil:
		return "", err
	case st.owner:
		return "", nil
	case st.pred != pred:
		return st.pred, nil
	}
	// pred existed at st.at: a deletion at or before it is of an earlier
	// key of the same name (slots are reused), which a watch opened on a
	// member lagging behind the read still reports.
	err = w.wait(ctx, predCh, false, st.at)
	if !errors.Is(err, errPredGone) || !st.predFirst {
		return "", err
	}
	// The owner went and nobody else is older: the waiter owns the
	// resource, unless its own key went too (lease expired) meanwhile.
	select {
	case wr, ok := <-w.self:
		if err := w.selfEvent(ctx, wr, ok); err != nil {
			return "", err
		}
	default:
	}
	if w.l.isDead() {
		return "", w.c.deadErr()
	}
	return "", nil
}

// wait waits until the predecessor's watch is established (created) or,
// after that, until the predecessor's key is deleted after revision after
// (errPredGone), and stops early on the waiter's own key going, its lease
// dying, a broken watch or ctx ending.
//
// A watch opened with no start revision starts at the current revision of
// the member it reaches, which may lag behind the revision of a read made
// through the leader: it can report a deletion older than that read.
func (w *waiter) wait(ctx context.Context, pred clientv3.WatchChan, created bool, after int64) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.l.scope.Done():
			return w.c.deadErr()
		case wr, ok := <-pred:
			if !ok || wr.Err() != nil {
				return w.c.watchErr(ctx, wr, ok)
			}
			if deletedAfter(wr.Events, after) {
				return errPredGone
			}
			if created && wr.Created {
				return nil
			}
		case wr, ok := <-w.self:
			if err := w.selfEvent(ctx, wr, ok); err != nil {
				return err
			}
		}
	}
}

// deadErr explains why a waiter's lease is dead.
func (c *conn) deadErr() error {
	if c.isClosed() {
		return tooz.ErrClosed
	}
	return fmt.Errorf("%w: the lease expired while waiting", tooz.ErrSessionLost)
}

// watchErr classifies the end of a waiter's watch. The own-key watch
// breaking is fatal only when the coordinator closed or ctx ended.
func (c *conn) watchErr(ctx context.Context, wr clientv3.WatchResponse, ok bool) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.isClosed() {
		return tooz.ErrClosed
	}
	if ok && wr.Err() != nil {
		c.log.Info("tooz/etcd: a waiter's watch broke; watching again", "err", wr.Err())
	}
	return errWatchBroke
}

func hasDelete(evs []*clientv3.Event) bool { return deletedAfter(evs, 0) }

// deletedAfter reports whether evs hold a deletion at a revision above rev.
func deletedAfter(evs []*clientv3.Event, rev int64) bool {
	for _, ev := range evs {
		if ev.Type == mvccpb.DELETE && ev.Kv.ModRevision > rev {
			return true
		}
	}
	return false
}

// Owner implements tooz.CoordinationDriver: the member ID stored in the
// oldest contender key.
func (c *conn) Owner(ctx context.Context, res tooz.Resource) (string, error) {
	if c.isClosed() {
		return "", tooz.ErrClosed
	}
	resp, err := c.cli.Get(ctx, c.keys.resource(res), clientv3.WithFirstCreate()...)
	if err != nil {
		return "", c.fail(ctx, nil, err)
	}
	if len(resp.Kvs) == 0 {
		return "", tooz.ErrNoLeader
	}
	kv := resp.Kvs[0]
	if owner := string(kv.Value); kv.Lease != 0 && tooz.ValidateID(owner) == nil {
		return owner, nil
	}
	// Someone else's key, first in the queue: it blocks the resource, but
	// names no member.
	c.log.Warn("tooz/etcd: a foreign key without a lease or a member ID heads a lock queue", "key", string(kv.Key))
	return "", fmt.Errorf("etcd: the first contender %q is a foreign key, no member's", kv.Key)
}
