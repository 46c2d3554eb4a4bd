// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/toozgo/tooz/internal/driverkit"
)

// handler receives what a subscription's goroutine reads, on that goroutine.
type handler interface {
	// confirmed reports a subscription confirmation; first is false when
	// the connection was replaced (go-redis reconnects silently and
	// subscribes again, and messages published meanwhile are lost).
	confirmed(first bool)
	// message reports a published message.
	message(payload string)
	// pending runs work queued by confirmed or message (a re-list); false
	// means it failed and should be retried after a back-off.
	pending(ctx context.Context) bool
}

// subscription is one pub/sub connection on one channel, read by one
// goroutine. It detects a replaced connection by the subscription
// confirmation that follows it, and a silent one (a paused server, a lost
// network) by a ping that gets no answer within the health interval, after
// which it replaces the connection itself.
type subscription struct {
	c    *conn
	ch   string
	h    handler
	ctx  context.Context
	stop context.CancelFunc
	done chan struct{}

	mu      sync.Mutex
	ps      *goredis.PubSub
	started bool
	once    bool // the first confirmation was seen
}

func newSubscription(c *conn, ch string, h handler) *subscription {
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{c: c, ch: ch, h: h, ctx: ctx, stop: cancel, done: make(chan struct{})}
	s.ps = c.rdb.Subscribe(ctx, ch)
	return s
}

// confirm waits, on the caller's goroutine, for the first confirmation.
func (s *subscription) confirm(ctx context.Context) error {
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, s.c.health)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if isTimeout(err) {
				continue
			}
			return s.c.mapErr(ctx, err)
		}
		if m, ok := msg.(*goredis.Subscription); ok && m.Kind == "subscribe" && m.Channel == s.ch {
			s.once = true
			s.h.confirmed(true)
			return nil
		}
	}
}

// start runs the reading goroutine.
func (s *subscription) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	s.started = s.c.tasks.Go(s.run) // not after Close
}

// close ends the subscription and waits for its goroutine: once it
// returns, the handler is not called again.
func (s *subscription) close() {
	s.stop()
	s.mu.Lock()
	ps, started := s.ps, s.started
	s.mu.Unlock()
	_ = ps.Close()
	if started {
		<-s.done
	}
}

func (s *subscription) pubsub() *goredis.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ps
}

// reopen replaces a connection that stopped answering.
func (s *subscription) reopen() {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	old := s.ps
	s.ps = s.c.rdb.Subscribe(s.ctx, s.ch)
	s.mu.Unlock()
	_ = old.Close()
}

func (s *subscription) run() {
	defer close(s.done)
	retry := driverkit.Backoff{Min: 10 * time.Millisecond, Max: time.Second}
	pinged := false
	for s.ctx.Err() == nil {
		if !s.h.pending(s.ctx) {
			if !driverkit.Sleep(s.ctx, retry.Next()) {
				return
			}
			continue
		}
		if h := s.c.testHoldReads.Load(); h != nil {
			select {
			case <-*h:
			case <-s.ctx.Done():
				return
			}
		}
		ps := s.pubsub()
		msg, err := ps.ReceiveTimeout(s.ctx, s.c.health)
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			if isTimeout(err) {
				if pinged {
					s.c.log.Warn("tooz/redis: pub/sub connection silent; replacing it", "channel", s.ch)
					s.reopen()
					pinged = false
				} else {
					_ = ps.Ping(s.ctx)
					pinged = true
				}
				continue
			}
			// go-redis replaces the connection and subscribes again; the
			// confirmation tells the handler. Do not spin while the
			// server is unreachable.
			if !driverkit.Sleep(s.ctx, retry.Next()) {
				return
			}
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" && m.Channel == s.ch {
				retry.Reset()
				first := !s.once
				s.once = true
				s.h.confirmed(first)
			}
		case *goredis.Message:
			s.h.message(m.Payload)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
