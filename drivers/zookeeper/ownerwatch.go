// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/toozgo/tooz"
)

// WatchLeader needs OwnerWatcher, and the Coordinator follows an
// ownership without a goroutine only through LostNotifier: keep the method
// sets from drifting.
var (
	_ tooz.OwnerWatcher = (*conn)(nil)
	_ tooz.LostNotifier = (*ownership)(nil)
)

// WatchOwner implements tooz.OwnerWatcher with a child watch on the
// resource's directory (an exists watch while it does not exist): every
// contender znode created or deleted may change the owner, the lowest
// one. The one-shot watch is armed again after every firing, every
// reconnection and every new session, so a change between a firing and
// the next arming is never lost. The arming lists the children anyway,
// so the watch reads the owner itself (the lowest child's data, one more
// round trip) and pushes it: on the session that will deliver the next
// event, that read is as fresh as Owner's, and the Coordinator skips
// Owner's sync and reads.
//
// changed is called once per change of the directory's children, counted
// by its child version (see dirVersion): a firing that covers two changes
// (a release and the next owner's release, say, while the watch was being
// armed again) pushes twice, and an arming after a reconnection that
// finds nothing changed pushes nothing. A candidacy that stood down
// counts these pushes to tell that another member has led.
func (c *conn) WatchOwner(ctx context.Context, res tooz.Resource, changed func(tooz.OwnerChange)) (func(), error) {
	s, err := c.live()
	if err != nil {
		return nil, err
	}
	dir := c.resDir(res)
	// arm sets the watch; children is nil, and st the zero version, when
	// dir does not exist.
	arm := func(ctx context.Context, s *session) (<-chan zk.Event, []string, dirVersion, error) {
		for {
			children, st, ev, err := childrenW(ctx, s, dir)
			if !errors.Is(err, zk.ErrNoNode) {
				return ev, children, versionOf(st), err
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
				return nil, nil, dirVersion{}, err
			}
			if !x.ok {
				return x.ch, nil, dirVersion{}, nil
			}
			// Created meanwhile: watch its children.
		}
	}
	gen := s.connGen()
	var (
		ev   <-chan zk.Event
		seen dirVersion // the version the last arming found
	)
	err = c.retry(ctx, s, func(int) error {
		var err error
		ev, _, seen, err = arm(ctx, s)
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
			began := time.Now()
			ev, children, v, err := arm(ctx, s)
			if err != nil {
				return nil, err
			}
			n := v.changesSince(seen)
			seen = v
			if n > 0 {
				oc := c.ownerAfter(ctx, s, dir, children, began)
				for range n {
					changed(oc)
				}
			}
			return ev, nil
		})
	}()
	// Stop ends the watch and waits for its goroutine; it may be called again.
	return sync.OnceFunc(func() { cancel(); <-done }), nil
}

// ownerAfter is the owner change a watch pushes once armed: the owner
// named by the lowest of children, read on s, or an unknown change (the
// Coordinator reads Owner) when that read fails or the child went away.
func (c *conn) ownerAfter(ctx context.Context, s *session, dir string, children []string, began time.Time) tooz.OwnerChange {
	id, err := c.ownerIn(ctx, s, dir, children)
	switch {
	case errors.Is(err, tooz.ErrNoLeader):
		return tooz.OwnerChange{Known: true, ReadAt: began}
	case err != nil:
		return tooz.OwnerChange{}
	}
	return tooz.OwnerChange{Owner: id, Known: true, ReadAt: began}
}

// dirVersion identifies a state of a resource directory's children: the
// directory's incarnation (its creating transaction; it is a container
// node, which the server deletes once empty) and its child version, which
// every child created or deleted raises by one. The zero value is a
// directory that does not exist.
type dirVersion struct {
	czxid    int64
	cversion int32
}

func versionOf(st *zk.Stat) dirVersion {
	if st == nil {
		return dirVersion{}
	}
	return dirVersion{czxid: st.Czxid, cversion: st.Cversion}
}

// changesSince is how many changes of the children lead from was to v: at
// least one when the directory was created, deleted or created again in
// between (a deleted directory's last changes are not known).
func (v dirVersion) changesSince(was dirVersion) int {
	switch {
	case v == was:
		return 0
	case v.czxid == was.czxid:
		return max(int(v.cversion-was.cversion), 1)
	case v.czxid == 0: // deleted
		return 1
	default: // created (again): its children's changes, and the creation
		return max(int(v.cversion), 1)
	}
}
