// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/toozgo/tooz"
)

// seqWatch is what the group and key watches share: a subscription to a
// channel whose messages begin with their sequence number and the one
// before ("seq prev ..."), a listing once the subscription is confirmed,
// and a new listing whenever a gap shows (a message lost, a connection
// replaced). Its subscription's goroutine makes every call of list's
// report and of apply.
type seqWatch struct {
	c    *conn
	sub  *subscription
	what string // names the watch in log lines
	// list reads the watched state and returns its last sequence number
	// and a function that reports it to the sink (called unless the watch
	// stopped meanwhile).
	list func(ctx context.Context) (last int64, report func(), err error)
	// apply handles a message after its "seq prev " (rest), in order.
	apply func(rest string, seq int64)

	last     int64 // sequence number of the last change applied
	relist   bool
	stopOnce sync.Once
}

// watchSeq subscribes to ch, lists once the subscription is confirmed,
// reports the listing and starts following the messages.
func (c *conn) watchSeq(ctx context.Context, ch, what string,
	list func(context.Context) (int64, func(), error), apply func(string, int64)) (func(), error) {
	if _, err := c.current(); err != nil {
		return nil, err
	}
	w := &seqWatch{c: c, what: what, list: list, apply: apply}
	w.sub = newSubscription(c, ch, w)
	if err := w.sub.confirm(ctx); err != nil {
		w.sub.close()
		return nil, err
	}
	last, report, err := list(ctx)
	if err != nil {
		w.sub.close()
		return nil, err
	}
	report()
	w.last = last
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		w.sub.close()
		return nil, tooz.ErrClosed
	}
	c.watches[w] = struct{}{}
	c.scheduleReapLocked(c.reapNext) // so that a crashed member's entries go
	c.mu.Unlock()
	w.sub.start()
	return w.stop, nil
}

func (w *seqWatch) stop() {
	w.stopOnce.Do(func() {
		w.sub.close()
		w.c.mu.Lock()
		delete(w.c.watches, w)
		w.c.mu.Unlock()
	})
}

// confirmed implements handler: a confirmation after the first one means
// the connection was replaced and messages may have been missed.
func (w *seqWatch) confirmed(first bool) {
	if !first {
		w.relist = true
	}
}

// message implements handler: a message older than the listing is
// skipped, one that does not follow the last applied makes a gap.
func (w *seqWatch) message(payload string) {
	seqS, rest, ok1 := strings.Cut(payload, " ")
	prevS, rest, ok2 := strings.Cut(rest, " ")
	seq, err1 := strconv.ParseInt(seqS, 10, 64)
	prev, err2 := strconv.ParseInt(prevS, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		w.c.log.Warn("tooz/redis: ignoring an event that tooz did not publish", "watch", w.what)
		return
	}
	switch {
	case w.relist || seq <= w.last:
		return // the coming listing, or the last one, has it
	case prev != w.last:
		w.relist = true
		return
	}
	w.last = seq
	w.apply(rest, seq)
}

// pending implements handler: it lists again when needed.
func (w *seqWatch) pending(ctx context.Context) bool {
	if !w.relist {
		return true
	}
	lctx, cancel := context.WithTimeout(ctx, max(w.c.timeout, time.Second))
	defer cancel()
	last, report, err := w.list(lctx)
	if err != nil {
		if ctx.Err() == nil {
			w.c.log.Warn("tooz/redis: listing a watch's state failed; retrying", "watch", w.what, "err", err)
		}
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	report()
	w.last = last
	w.relist = false
	return true
}
