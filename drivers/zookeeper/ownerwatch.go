package zookeeper

import (
	"context"
	"errors"
	"sync"

	"github.com/go-zookeeper/zk"

	"github.com/toozgo/tooz"
)

// WatchOwner implements tooz.OwnerWatcher with a child watch on the
// resource's directory (an exists watch while it does not exist): every
// contender znode created or deleted may change the owner, the lowest
// one. The one-shot watch is armed again after every firing, every
// reconnection and every new session, and changed is called each time,
// so a change between a firing and the next arming is never lost (the
// Coordinator reads the owner after each call).
func (c *conn) WatchOwner(ctx context.Context, res tooz.Resource, changed func()) (func(), error) {
	s, err := c.live()
	if err != nil {
		return nil, err
	}
	dir := c.resDir(res)
	arm := func(ctx context.Context, s *session) (<-chan zk.Event, error) {
		for {
			ev, err := call(ctx, func() (<-chan zk.Event, error) {
				_, _, ev, err := s.zk.ChildrenW(dir)
				return ev, err
			})
			if !errors.Is(err, zk.ErrNoNode) {
				return ev, err
			}
			type e struct {
				ok bool
				ch <-chan zk.Event
			}
			x, err := call(ctx, func() (e, error) {
				ok, _, ch, err := s.zk.ExistsW(dir)
				return e{ok, ch}, err
			})
			if err != nil {
				return nil, err
			}
			if !x.ok {
				return x.ch, nil
			}
			// Created meanwhile: watch its children.
		}
	}
	gen := s.connGen()
	var ev <-chan zk.Event
	err = c.retry(ctx, s, func(int) error {
		var err error
		ev, err = arm(ctx, s)
		return err
	})
	if err != nil {
		return nil, c.mapErr(err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.follow(wctx, "owner of "+dir, s, gen, ev, func(ctx context.Context, s *session) (<-chan zk.Event, error) {
			ev, err := arm(ctx, s)
			if err == nil {
				changed()
			}
			return ev, err
		})
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}, nil
}
