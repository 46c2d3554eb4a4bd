// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
)

// contenderPrefix starts every contender znode's name: c_<guid>_<sequence>.
const contenderPrefix = "c_"

// resDir returns the directory of res's contenders.
func (c *conn) resDir(res tooz.Resource) string {
	if res.Kind == tooz.KindElection {
		return c.elections + "/" + keyspace.Escape(res.Name)
	}
	return c.locks + "/" + keyspace.Escape(res.Name)
}

// seqOf returns the sequence number ZooKeeper appended to a contender's
// name, or false for a znode that is not a contender.
func seqOf(name string) (int64, bool) {
	i := strings.LastIndexByte(name, '_')
	if !strings.HasPrefix(name, contenderPrefix) || i < 0 || i == len(name)-1 {
		return 0, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// Acquire implements tooz.CoordinationDriver with ZooKeeper's lock recipe:
// an ephemeral sequential znode per call; the lowest sequence owns the
// resource; a waiter watches only the znode just before its own.
func (c *conn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	s, err := c.live()
	if err != nil {
		return nil, err
	}
	dir := c.resDir(res)
	// Tied to the session before the znode exists, so that an expiry
	// from here on ends it.
	o, ok := s.own()
	if !ok || !s.listen(dir) {
		return nil, c.deadSessionErr(s, s.deadErr())
	}
	defer s.unlisten(dir) // after watchOwned: no child event is lost between
	o.dir = dir
	var (
		czxid int64
		first *listing
	)
	o.path, czxid, first, err = c.createContender(ctx, s, dir, "", true)
	if err != nil {
		o.end()
		return nil, c.mapErr(err)
	}
	won, err := c.contend(ctx, s, o, dir, czxid, first, wait)
	if err == nil && won {
		c.watchOwned(o)
		return o, nil
	}
	c.withdraw(o)
	if err == nil {
		return nil, tooz.ErrNotAcquired
	}
	return nil, c.mapErr(err)
}

// listing is a contender directory's listing made with a child watch.
type listing struct {
	at       uint64 // the directory's child events before it (dirEvents)
	children []string
	stat     *zk.Stat
}

// createContender creates this call's ephemeral sequential znode in dir
// and returns its path, and its czxid when the reply carried it (0 when
// not known). Its name is c_<tag><guid>_<seq> (tag is "" for locks and
// elections; see shared.go): it starts with a prefix unique to the call,
// so that after a connection loss the znode a lost reply was about is
// found instead of created twice.
//
// With list, the directory is listed (with a child watch) right after a
// successful create, on the same goroutine, and the listing is returned
// for contend's first look (nil when not made). A call whose context can
// end waits for the client on a goroutine of its own (callUndo): one
// goroutine and one hand-off for both requests instead of one each.
func (c *conn) createContender(ctx context.Context, s *session, dir, tag string, list bool) (string, int64, *listing, error) {
	guid := driverkit.NewID()
	mine := contenderPrefix + tag + guid + "_"
	var (
		path  string
		czxid int64
		loss  bool
		first *listing
	)
	zxid := s.dial.expectCreate(dir + "/" + mine)
	defer s.dial.forgetCreate(dir + "/" + mine)
	type created struct {
		path  string
		first *listing
	}
	undo := func(r created) { c.deleteQuietly(s, r.path) }
	create := func() (string, error) {
		r, err := callUndo(ctx, func() (created, error) {
			p, err := s.zk.Create(dir+"/"+mine, []byte(c.member), zk.FlagEphemeral|zk.FlagSequence, c.acl)
			if err != nil || !list {
				return created{path: p}, err
			}
			at := s.dirEvents(dir)
			ch, st, _, lerr := s.zk.ChildrenW(dir)
			if lerr != nil {
				return created{path: p}, nil // contend lists again
			}
			return created{p, &listing{at: at, children: ch, stat: st}}, nil
		}, undo)
		first = r.first
		return r.path, err
	}
	err := c.retry(ctx, s, func(attempt int) error {
		if attempt > 0 {
			loss = true
			children, err := call(ctx, func() ([]string, error) {
				ch, _, err := s.zk.Children(dir)
				return ch, err
			})
			if err != nil && !errors.Is(err, zk.ErrNoNode) {
				return err
			}
			for _, name := range children {
				if strings.HasPrefix(name, mine) {
					path = dir + "/" + name
					return nil
				}
			}
		}
		p, err := create()
		if errors.Is(err, zk.ErrNoNode) {
			if err := c.ensureDir(ctx, s, dir); err != nil {
				return err
			}
			p, err = create()
		}
		if err == nil {
			select {
			case czxid = <-zxid:
			default:
			}
		}
		if connLoss(err) {
			// The create may have reached the server even when retry
			// then gives up without a second attempt.
			loss = true
		}
		path = p
		return err
	})
	if err != nil && loss {
		// A create may have succeeded without our hearing of it.
		c.spawn(func() { c.deleteByPrefix(s, dir, mine) })
	}
	return path, czxid, first, err
}

// ensureDir creates a lock or election directory: a container znode,
// which the server deletes once it is empty again (a persistent one on
// servers older than 3.5).
func (c *conn) ensureDir(ctx context.Context, s *session, dir string) error {
	for range 3 {
		var err error
		if c.containers.Load() {
			_, err = call(ctx, func() (string, error) { return s.zk.CreateContainer(dir, nil, zk.FlagContainer, c.acl) })
			if err != nil && !errors.Is(err, zk.ErrNodeExists) && !errors.Is(err, zk.ErrNoNode) &&
				!errors.Is(err, zk.ErrNoAuth) && !connLoss(err) && ctx.Err() == nil {
				c.log.Info("tooz: the zookeeper server does not create container znodes; using persistent ones", "err", err)
				c.containers.Store(false)
			}
		}
		if !c.containers.Load() {
			_, err = call(ctx, func() (string, error) { return s.zk.Create(dir, nil, zk.FlagPersistent, c.acl) })
		}
		switch {
		case err == nil, errors.Is(err, zk.ErrNodeExists):
			return nil
		case errors.Is(err, zk.ErrNoNode):
			parent := dir[:strings.LastIndexByte(dir, '/')]
			if err := c.ensurePath(ctx, s, parent); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return fmt.Errorf("could not create %s", dir)
}

// deleteByPrefix deletes dir's children whose name starts with prefix.
func (c *conn) deleteByPrefix(s *session, dir, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var children []string
	err := c.retry(ctx, s, func(int) error {
		var err error
		children, err = call(ctx, func() ([]string, error) {
			ch, _, err := s.zk.Children(dir)
			return ch, err
		})
		return err
	})
	if err != nil {
		return
	}
	for _, name := range children {
		if strings.HasPrefix(name, prefix) {
			c.deleteQuietly(s, dir+"/"+name)
		}
	}
}

// contend waits until o's znode is the lowest in dir (true), or reports
// false at once when it is not and wait is false.
//
// The fencing token is the owner znode's czxid. Owners follow each other
// in sequence order, which is creation order, so each new owner's czxid is
// higher (a re-created directory's znodes are newer still). It is the zxid
// of the create's reply (czxid, when not 0), which the driver's connection
// reads as it passes since the client does not pass it on; when that is
// not known (a reply lost to a reconnection) the znode's stat is read in
// the same round trip as the first listing. As a check, it cannot be
// above the directory's pzxid in a listing made after the create.
//
// A waiter whose predecessor was the only lower znode does not list the
// directory again when that predecessor goes away: lower sequence numbers
// are never handed out again, so it is the owner (one round trip less per
// hand-over than the classic recipe).
func (c *conn) contend(ctx context.Context, s *session, o *ownership, dir string, czxid int64, first *listing, wait bool) (bool, error) {
	name := o.path[strings.LastIndexByte(o.path, '/')+1:]
	seq, ok := seqOf(name)
	if !ok {
		return false, fmt.Errorf("unexpected contender znode %q", o.path)
	}
	type selfStat struct {
		czxid int64
		err   error
	}
	var self chan selfStat // the pending read of our own stat, if any
	readSelf := func() {
		if czxid != 0 || self != nil {
			return
		}
		self = make(chan selfStat, 1)
		c.statReads.Add(1)
		go func() {
			z, err := c.readCzxid(ctx, s, o.path)
			self <- selfStat{z, err}
		}()
	}
	owner := func() (bool, error) {
		readSelf()
		if self != nil {
			r := <-self
			if errors.Is(r.err, zk.ErrNoNode) {
				return false, c.vanished(s, o)
			}
			if r.err != nil {
				return false, r.err
			}
			czxid = r.czxid
		}
		o.token = uint64(czxid)
		return true, nil
	}
	readSelf() // pipelined with the listing, unless the create's reply told
	checked := false
	for {
		// With a child watch, which may then follow the ownership
		// (dirwatch.go). The first may have come with the create.
		var l listing
		if first != nil {
			l, first = *first, nil
		} else {
			l.at = s.dirEvents(dir)
			var err error
			if l.children, l.stat, err = c.children(ctx, s, dir, true); err != nil {
				return false, err
			}
		}
		children, st := l.children, l.stat
		o.listed, o.listedAt = true, l.at
		if !checked && slices.Contains(children, name) {
			checked = true
			if czxid > st.Pzxid { // cannot be: our create came first
				c.log.Warn("tooz: a create's zxid is above its directory's pzxid; reading the znode's stat", "path", o.path)
				czxid = 0
				readSelf()
			}
		}
		pred, lower, present := predecessor(children, name, seq)
		switch {
		case !present:
			return false, c.vanished(s, o)
		case pred == "":
			return owner()
		case !wait:
			return false, nil
		}
		var (
			exists bool
			ch     <-chan zk.Event
		)
		err := c.retry(ctx, s, func(int) error {
			type r struct {
				ok bool
				ch <-chan zk.Event
			}
			v, err := call(ctx, func() (r, error) {
				ok, _, ch, err := s.zk.ExistsW(dir + "/" + pred)
				return r{ok, ch}, err
			})
			exists, ch = v.ok, v.ch
			return err
		})
		if err != nil {
			return false, err
		}
		gone := !exists
		if exists {
			select {
			case ev := <-ch:
				gone = ev.Type == zk.EventNodeDeleted
			case <-ctx.Done():
				return false, ctx.Err()
			case <-o.Lost():
				return false, c.vanished(s, o)
			}
		}
		if gone && lower == 1 {
			o.listed = false
			return owner()
		}
	}
}

// watchOwned ends o (its Lost closes) when its znode is deleted while its
// session lives: the ownership was revoked out of band (an operator's or a
// tool's delete), and the next contender, which watches that znode, owns
// the resource already. A lock's winning listing's child watch follows it
// while it can (dirwatch.go); otherwise an exists watch on the znode does.
// The client's event callback acts on what either reports: no goroutine
// waits for it while o lasts. Setting the exists watch is a round trip,
// made in the background so that Acquire does not wait for it.
func (c *conn) watchOwned(o *ownership) {
	s := o.s
	s.mu.Lock()
	if s.owned == nil {
		s.mu.Unlock()
		return // the session ended, and o with it
	}
	s.owned[o.path] = o
	s.mu.Unlock()
	if !s.followByDir(o) {
		c.armOwnerWatch(o)
	}
}

// armOwnerWatch sets the exists watch on o's znode, retrying until it is
// set or o ends.
func (c *conn) armOwnerWatch(o *ownership) {
	s := o.s
	c.spawn(func() {
		ctx := o.Context()
		for ctx.Err() == nil {
			var exists bool
			err := c.retry(ctx, s, func(int) error {
				var err error
				exists, err = call(ctx, func() (bool, error) {
					ok, _, _, err := s.zk.ExistsW(o.path) // ownedEvent hears what it reports
					return ok, err
				})
				return err
			})
			switch {
			case ctx.Err() != nil || s.deadErr() != nil:
				return // o ended, or the session did (and ended o)
			case err != nil:
				// No connection for a timeout (the Coordinator's own
				// deadline ends o meanwhile), or an unexpected error:
				// look again a little later.
				driverkit.Sleep(ctx, c.timeout/4)
			case !exists:
				c.ownedZnodeGone(o)
				return
			default:
				return
			}
		}
	})
}

// ownedEvent acts on a watch event the client reports for a znode an
// ownership owns: a deletion ends it, a data change (which uses the watch
// up) sets the watch again. It runs on the client's receiving goroutine
// and does not block.
func (s *session) ownedEvent(ev zk.Event) {
	s.mu.Lock()
	o := s.owned[ev.Path]
	s.mu.Unlock()
	if o == nil {
		return
	}
	switch ev.Type {
	case zk.EventNodeDeleted:
		s.c.ownedZnodeGone(o)
	case zk.EventNodeCreated, zk.EventNodeDataChanged:
		if !o.Ended() {
			s.c.armOwnerWatch(o)
		}
	}
	// EventNotWatching: the session ended (and o with it) or the client
	// closed.
}

// ownedZnodeGone ends o, whose znode was deleted, unless its own Release
// deleted it.
func (c *conn) ownedZnodeGone(o *ownership) {
	o.s.unwatch(o)
	if o.releasing.Load() || !o.End() {
		return // Release ends o itself, or o had ended
	}
	c.log.Warn("tooz: the owner znode was deleted by someone else; the ownership is lost", "path", o.path)
}

// unwatch stops following o's znode.
func (s *session) unwatch(o *ownership) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owned[o.path] == o {
		delete(s.owned, o.path)
	}
	s.unfollowDir(o)
}

// vanished reports a contender whose znode is gone before it owned anything.
func (c *conn) vanished(s *session, o *ownership) error {
	if why := s.deadErr(); why != nil {
		return c.deadSessionErr(s, why)
	}
	return fmt.Errorf("%w: contender znode %s was deleted", tooz.ErrSessionLost, o.path)
}

// children lists dir (empty when it does not exist) with dir's stat, and
// with a child watch (which onEvent hears) when watch is true.
func (c *conn) children(ctx context.Context, s *session, dir string, watch bool) ([]string, *zk.Stat, error) {
	type r struct {
		ch []string
		st *zk.Stat
	}
	var out r
	err := c.retry(ctx, s, func(int) error {
		var err error
		out, err = call(ctx, func() (r, error) {
			if watch {
				ch, st, _, err := s.zk.ChildrenW(dir)
				return r{ch, st}, err
			}
			ch, st, err := s.zk.Children(dir)
			return r{ch, st}, err
		})
		if errors.Is(err, zk.ErrNoNode) {
			out, err = r{st: &zk.Stat{}}, nil
		}
		return err
	})
	return out.ch, out.st, err
}

// predecessor returns the contender just before name (seq) in children
// ("" when name is the lowest), how many contenders are lower, and whether
// name is among children at all.
func predecessor(children []string, name string, seq int64) (string, int, bool) {
	var (
		pred    string
		predSeq int64 = -1 << 63
		lower   int
		present bool
	)
	for _, ch := range children {
		if ch == name {
			present = true
			continue
		}
		n, ok := seqOf(ch)
		if !ok || n >= seq {
			continue
		}
		lower++
		if n > predSeq {
			pred, predSeq = ch, n
		}
	}
	return pred, lower, present
}

// lowest returns the contender with the lowest sequence in children.
func lowest(children []string) string {
	var (
		best    string
		bestSeq int64
	)
	for _, ch := range children {
		if n, ok := seqOf(ch); ok && (best == "" || n < bestSeq) {
			best, bestSeq = ch, n
		}
	}
	return best
}

// withdraw deletes o's znode (on a context of its own: the caller's may
// have ended) and ends o. While the connection is down the delete is left
// to the background rather than holding the caller up.
func (c *conn) withdraw(o *ownership) {
	defer o.end()
	if o.s.deadErr() != nil {
		return // the znode went with the session
	}
	c.deleteQuietly(o.s, o.path)
}

// Owner implements tooz.CoordinationDriver: the data of the lowest
// contender znode, read after a sync.
func (c *conn) Owner(ctx context.Context, res tooz.Resource) (string, error) {
	s, err := c.live()
	if err != nil {
		return "", err
	}
	if err := c.sync(ctx, s); err != nil {
		return "", c.mapErr(err)
	}
	dir := c.resDir(res)
	for {
		children, _, err := c.children(ctx, s, dir, false)
		if err != nil {
			return "", c.mapErr(err)
		}
		id, err := c.ownerIn(ctx, s, dir, children)
		if errors.Is(err, zk.ErrNoNode) {
			continue // it went away meanwhile: look again
		}
		return id, c.mapErr(err)
	}
}

// ownerIn reads the member named by the lowest of children, dir's
// contender znodes: tooz.ErrNoLeader when there is none, zk.ErrNoNode when
// it went away meanwhile.
func (c *conn) ownerIn(ctx context.Context, s *session, dir string, children []string) (string, error) {
	first := lowest(children)
	if first == "" {
		return "", tooz.ErrNoLeader
	}
	var data []byte
	err := c.retry(ctx, s, func(int) error {
		var err error
		data, _, err = get(ctx, s, dir+"/"+first)
		return err
	})
	if err != nil {
		return "", err
	}
	if err := tooz.ValidateID(string(data)); err != nil {
		c.log.Warn("tooz: the first contender names no valid member", "path", dir+"/"+first)
		return "", fmt.Errorf("the first contender %s holds no member ID: %w", first, err)
	}
	return string(data), nil
}

// ownership is one Acquire's contender znode.
type ownership struct {
	*driverkit.Hold // Lost, OnLost; ends with the session's scope
	c               *conn
	s               *session
	path            string
	token           uint64
	// releasing is set once Release began: the znode's deletion is ours.
	releasing atomic.Bool
	// dir is a lock's directory ("" for shared ownerships, which an
	// exists watch follows). listed says that the listing that made o
	// the owner had a child watch, set after listedAt child events of
	// dir (contend); byDir (s.mu) that this watch follows o.
	dir      string
	listed   bool
	listedAt uint64
	byDir    bool
}

// FencingToken implements tooz.Ownership: the owner znode's czxid, which
// strictly increases from one owner to the next (see contend).
func (o *ownership) FencingToken() uint64 { return o.token }

// end ends o and stops following its znode.
func (o *ownership) end() {
	o.End()
	o.s.unwatch(o)
}

// Release implements tooz.Ownership.
func (o *ownership) Release(ctx context.Context) error {
	if o.Ended() {
		return tooz.ErrLockNotHeld
	}
	o.releasing.Store(true)
	// Before the delete: the watch that follows o would hear it.
	o.s.unwatch(o)
	c := o.c
	err := c.retry(ctx, o.s, func(attempt int) error {
		_, err := call(ctx, func() (struct{}, error) { return struct{}{}, o.s.zk.Delete(o.path, -1) })
		if errors.Is(err, zk.ErrNoNode) {
			if attempt > 0 {
				return nil
			}
			return tooz.ErrLockNotHeld
		}
		return err
	})
	if err != nil && !errors.Is(err, tooz.ErrLockNotHeld) && o.s.deadErr() == nil {
		// Kept for later: the ownership ends here either way.
		o.s.pending.Add(o.path)
	}
	o.end()
	return c.mapErr(err)
}
