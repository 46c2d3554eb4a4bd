package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/toozgo/tooz"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ownership is one contender key that owns its resource.
type ownership struct {
	c     *conn
	l     *lease
	key   string
	token uint64 // the key's create revision
	lost  chan struct{}
	once  sync.Once
}

// FencingToken implements tooz.Ownership: the owner key's create revision.
func (o *ownership) FencingToken() uint64 { return o.token }

// Lost implements tooz.Ownership.
func (o *ownership) Lost() <-chan struct{} { return o.lost }

// end closes Lost once.
func (o *ownership) end() { o.once.Do(func() { close(o.lost) }) }

// Release implements tooz.Ownership: one Delete of the contender key.
func (o *ownership) Release(ctx context.Context) error {
	o.c.mu.Lock()
	delete(o.l.owns, o)
	o.c.mu.Unlock()
	defer o.end()
	select {
	case <-o.lost:
		return tooz.ErrLockNotHeld
	default:
	}
	resp, err := o.c.cli.Delete(ctx, o.key)
	if err != nil {
		o.c.orphan(o.key)
		return o.c.fail(ctx, nil, err)
	}
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
func (c *conn) own(l *lease, key string, rev int64) (*ownership, error) {
	o := &ownership{c: c, l: l, key: key, token: uint64(rev), lost: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, tooz.ErrClosed
	}
	if l.isDead() {
		return nil, fmt.Errorf("%w: the lease expired while acquiring", tooz.ErrSessionLost)
	}
	l.owns[o] = struct{}{}
	return o, nil
}

// Acquire implements tooz.CoordinationDriver. Each call puts a contender
// key of its own (lease ID and a per-coordinator sequence number) on the
// lease; the contender with the lowest create revision owns the resource.
//
// Without wait it is one transaction that creates the key only when no
// contender exists, else reports tooz.ErrNotAcquired (nothing is written).
// With wait it is one transaction that creates the key and reads the owner
// and the newest older contender: when the key is the owner, that was the
// only round trip. Otherwise the contender waits for its predecessor's key
// to go (see waitTurn).
func (c *conn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l, err := c.leaseFor(ctx, c.leaseTTL(res))
	if err != nil {
		return nil, err
	}
	prefix := c.keys.resource(res)
	key := fmt.Sprintf("%s%016x_%d", prefix, uint64(l.id), c.seq.Add(1))
	put := clientv3.OpPut(key, c.member, clientv3.WithLease(l.id))
	if !wait {
		resp, err := c.enqueue(ctx, key, func(tctx context.Context) (*clientv3.TxnResponse, error) {
			return c.cli.Txn(tctx).If(absent(key), noKeyUnder(prefix)).Then(put).Commit()
		})
		if err != nil {
			return nil, c.fail(ctx, l, err)
		}
		if !resp.Succeeded {
			return nil, tooz.ErrNotAcquired
		}
		return c.ownOrWithdraw(l, key, resp.Header.Revision)
	}
	resp, err := c.enqueue(ctx, key, func(tctx context.Context) (*clientv3.TxnResponse, error) {
		return c.cli.Txn(tctx).If(absent(key)).Then(
			put,
			clientv3.OpGet(prefix, append(clientv3.WithFirstCreate(), clientv3.WithKeysOnly())...),
			clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
				clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend), clientv3.WithLimit(2)),
		).Commit()
	})
	if err != nil {
		return nil, c.fail(ctx, l, err)
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("etcd: contender key %q exists already", key) // cannot happen: keys are unique
	}
	rev := resp.Header.Revision
	first, newest := rangeOf(resp, 1), rangeOf(resp, 2)
	if len(first) > 0 && string(first[0].Key) == key {
		return c.ownOrWithdraw(l, key, rev)
	}
	pred := ""
	if len(newest) == 2 && string(newest[0].Key) == key {
		pred = string(newest[1].Key)
	}
	if err := c.waitTurn(ctx, l, prefix, key, rev, pred); err != nil {
		c.await(c.withdraw(key))
		return nil, err
	}
	return c.ownOrWithdraw(l, key, rev)
}

// enqueue runs the transaction that creates contender key. The transaction
// is not cancelled with ctx: when ctx ends first, enqueue returns ctx's
// error at once and leaves a goroutine to await the answer and delete the
// key if it was created. (Cancelling the request instead would leave no way
// to know whether etcd applied it, and a delete sent meanwhile could be
// applied before it, leaving a contender key that blocks the queue.)
func (c *conn) enqueue(ctx context.Context, key string, txn func(context.Context) (*clientv3.TxnResponse, error)) (*clientv3.TxnResponse, error) {
	type result struct {
		resp *clientv3.TxnResponse
		err  error
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, tooz.ErrClosed
	}
	c.bg.Add(1)
	c.mu.Unlock()
	done := make(chan result, 1)
	go func() {
		defer c.bg.Done()
		limit := max(enqueueTimeout, c.timeout)
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
		defer cancel()
		resp, err := txn(tctx)
		if err != nil && tctx.Err() != nil {
			err = fmt.Errorf("%w: no answer from etcd within %v: %w", tooz.ErrConnection, limit, err)
		}
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			c.await(c.withdraw(key)) // a lost answer may hide an applied transaction
		}
		return r.resp, r.err
	case <-ctx.Done():
		c.await(c.background(func() {
			if r := <-done; r.err != nil || r.resp.Succeeded {
				c.deleteKey(key)
			}
		}))
		return nil, ctx.Err()
	}
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		close(done)
		return done
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer close(done)
		f()
	}()
	return done
}

// ownOrWithdraw registers the ownership, or deletes the key when that fails.
func (c *conn) ownOrWithdraw(l *lease, key string, rev int64) (tooz.Ownership, error) {
	o, err := c.own(l, key, rev)
	if err != nil {
		c.await(c.withdraw(key))
		return nil, err
	}
	return o, nil
}

// withdraw deletes a contender key in the background; the returned channel
// closes when that is done.
func (c *conn) withdraw(key string) <-chan struct{} {
	return c.background(func() { c.deleteKey(key) })
}

// deleteKey deletes a contender key on a context of its own; a key it
// cannot delete is left to the next heartbeat.
func (c *conn) deleteKey(key string) {
	if c.isClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if _, err := c.cli.Delete(ctx, key); err != nil {
		c.orphan(key)
		c.log.Warn("tooz/etcd: could not withdraw a contender; the next heartbeat retries", "key", key, "err", err)
	}
}

// errKeyGone reports a waiting contender whose own key vanished.
var errKeyGone = fmt.Errorf("%w: the contender's key vanished while waiting (lease expired or key deleted)", tooz.ErrSessionLost)

// standing reads, in one transaction, whether key still exists, whether it
// owns the resource, which contender is the newest one older than it, and
// whether that predecessor is the owner (then it is the only older one).
func (c *conn) standing(ctx context.Context, l *lease, prefix, key string, rev int64) (owner bool, pred string, predFirst bool, err error) {
	resp, err := c.cli.Txn(ctx).Then(
		clientv3.OpGet(key, clientv3.WithCountOnly()),
		clientv3.OpGet(prefix, append(clientv3.WithFirstCreate(), clientv3.WithKeysOnly())...),
		clientv3.OpGet(prefix, append(clientv3.WithLastCreate(), clientv3.WithKeysOnly(), clientv3.WithMaxCreateRev(rev-1))...),
	).Commit()
	if err != nil {
		return false, "", false, c.fail(ctx, l, err)
	}
	if countOf(resp, 0) == 0 {
		return false, "", false, errKeyGone
	}
	first := rangeOf(resp, 1)
	if len(first) > 0 && string(first[0].Key) == key {
		return true, "", false, nil
	}
	if older := rangeOf(resp, 2); len(older) > 0 && len(first) > 0 {
		pred := string(older[0].Key)
		return false, pred, pred == string(first[0].Key), nil
	}
	// Not first, yet nobody older: cannot happen within one transaction.
	return false, "", false, fmt.Errorf("etcd: inconsistent contender queue under %q", prefix)
}

// waitTurn waits until key owns the resource. It watches only the
// predecessor's key (no thundering herd) and its own key (a contender
// whose lease expires stops waiting with tooz.ErrSessionLost). Watches
// start at the current revision — a watch from a past revision lands in
// etcd's unsynced watcher set, caught up only every 100 ms — and the queue
// is read again once they are in place, so that a deletion before the
// watch started is not missed.
func (c *conn) waitTurn(ctx context.Context, l *lease, prefix, key string, rev int64, pred string) error {
	wctx := clientv3.WithRequireLeader(ctx)
	for {
		if pred == "" {
			owner, p, _, err := c.standing(ctx, l, prefix, key, rev)
			if err != nil || owner {
				return err
			}
			pred = p
		}
		next, err := c.watchPredecessor(ctx, wctx, l, prefix, key, rev, pred)
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

// watchPredecessor watches pred's key and key itself from the current
// revision, reads the queue once both watches are in place, and waits for
// pred to go. It returns ("", nil) when key owns the resource, (p, nil)
// when the read found another predecessor p, errPredGone when pred was
// deleted, errWatchBroke when a watch ended, or the error that ends the wait.
//
// When the read found pred to be the owner, it was the only contender older
// than key (younger ones have higher revisions), so its deletion makes key
// the owner with no further read: the hand-over costs the releaser's
// delete and one watch event.
func (c *conn) watchPredecessor(ctx, wctx context.Context, l *lease, prefix, key string, rev int64, pred string) (string, error) {
	wctx, cancel := context.WithCancel(wctx)
	defer cancel()
	predCh := c.cli.Watch(wctx, pred, clientv3.WithFilterPut(), clientv3.WithCreatedNotify())
	self := c.cli.Watch(wctx, key, clientv3.WithFilterPut(), clientv3.WithCreatedNotify())
	if err := c.waitCreated(ctx, l, predCh, self); err != nil {
		return "", err
	}
	owner, p, predFirst, err := c.standing(ctx, l, prefix, key, rev)
	switch {
	case err != nil:
		return "", err
	case owner:
		return "", nil
	case p != pred:
		return p, nil
	}
	err = c.waitGone(ctx, l, predCh, self)
	if !errors.Is(err, errPredGone) || !predFirst {
		return "", err
	}
	// The owner went and nobody else is older: key owns the resource,
	// unless its own key went too (lease expired) in the meantime.
	select {
	case wr, ok := <-self:
		if !ok || wr.Err() != nil || hasDelete(wr.Events) {
			return "", errWatchBroke // read the queue to be sure
		}
	default:
	}
	if l.isDead() {
		return "", c.deadErr()
	}
	return "", nil
}

// errWatchBroke reports a watch that ended while the wait goes on.
var errWatchBroke = errors.New("watch broke")

// waitCreated waits until both watches are established.
func (c *conn) waitCreated(ctx context.Context, l *lease, pred, self clientv3.WatchChan) error {
	predReady, selfReady := false, false
	for !predReady || !selfReady {
		var predCh, selfCh clientv3.WatchChan
		if !predReady {
			predCh = pred
		}
		if !selfReady {
			selfCh = self
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.dead:
			return c.deadErr()
		case wr, ok := <-predCh:
			if !ok || wr.Err() != nil {
				return c.watchErr(ctx, wr, ok)
			}
			predReady = predReady || wr.Created
			if hasDelete(wr.Events) {
				return errPredGone
			}
		case wr, ok := <-selfCh:
			if !ok || wr.Err() != nil {
				return c.watchErr(ctx, wr, ok)
			}
			selfReady = selfReady || wr.Created
			if hasDelete(wr.Events) {
				return errKeyGone
			}
		}
	}
	return nil
}

// waitGone waits until the predecessor's key is deleted.
func (c *conn) waitGone(ctx context.Context, l *lease, pred, self clientv3.WatchChan) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.dead:
			return c.deadErr()
		case wr, ok := <-pred:
			if !ok || wr.Err() != nil {
				return c.watchErr(ctx, wr, ok)
			}
			if hasDelete(wr.Events) {
				return errPredGone
			}
		case wr, ok := <-self:
			if !ok || wr.Err() != nil {
				return c.watchErr(ctx, wr, ok)
			}
			if hasDelete(wr.Events) {
				return errKeyGone
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

func hasDelete(evs []*clientv3.Event) bool {
	for _, ev := range evs {
		if ev.Type == mvccpb.DELETE {
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
	return string(resp.Kvs[0].Value), nil
}
