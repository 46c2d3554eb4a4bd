// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/sharerec"
)

// Semaphores and read/write locks (tooz.SharedAcquirer).
//
// A contender is an ephemeral sequential znode of the session under
// <ns>/semaphores/<name>/ (<ns>/rwlocks/<name>/) named
// c_<mode><limit>_<guid>_<seq> — mode "s" (shared, limit the semaphore's
// permits, 0 for a read/write lock) or "x" (exclusive) — with the member
// ID as data, so that one listing tells every contender's share. The queue
// is in sequence order and tooz.Share.Holds decides who holds; the fencing
// token is the znode's czxid, which follows the sequence order.
//
// A waiter watches one znode, never the directory unless it is a
// semaphore's first waiter: an exclusive waiter watches its predecessor; a
// shared waiter of a read/write lock watches the newest exclusive
// contender ahead of it (when that was the only one, its deletion makes
// the waiter hold without listing again). A semaphore's first waiter
// watches the directory's children, and any other waiter its predecessor:
// a waiter that gets its permit sets its znode's data, which wakes the one
// behind it to become the first waiter. So each freed permit wakes one
// waiter (a semaphore waiter also waits for the waiter ahead of it to take
// its turn, as in Curator's semaphore). Znodes whose name does not parse
// are ignored with a log line; an operator removes one with zkCli's delete.

// sharedDir is the directory of a semaphore's or read/write lock's contenders.
func (c *conn) sharedDir(res tooz.Resource) string {
	return c.root + "/" + sharerec.Space(res.Kind) + "/" + keyspace.Escape(res.Name)
}

// shareTag is the part of a contender's name after "c_" that gives its share.
func shareTag(sh tooz.Share) string {
	if sh.Exclusive {
		return "x0_"
	}
	return "s" + strconv.Itoa(sh.Limit) + "_"
}

// zentry is one parsed contender znode.
type zentry struct {
	name  string
	seq   int64
	share tooz.Share
}

// parseShared parses a contender name c_<mode><limit>_<guid>_<seq>.
func parseShared(name string) (zentry, bool) {
	parts := strings.Split(name, "_")
	if len(parts) != 4 || parts[0] != "c" || len(parts[1]) < 2 || parts[2] == "" {
		return zentry{}, false
	}
	seq, err := strconv.ParseInt(parts[3], 10, 64)
	n, nerr := strconv.Atoi(parts[1][1:])
	if err != nil || nerr != nil || n < 0 || n > tooz.MaxPermits {
		return zentry{}, false
	}
	e := zentry{name: name, seq: seq}
	switch parts[1][0] {
	case 'x':
		if n != 0 {
			return zentry{}, false
		}
		e.share.Exclusive = true
	case 's':
		e.share.Limit = n
	default:
		return zentry{}, false
	}
	return e, true
}

// queue parses and orders a listing, logging the names it ignores.
func (c *conn) queue(dir string, children []string) []zentry {
	q := make([]zentry, 0, len(children))
	for _, ch := range children {
		e, ok := parseShared(ch)
		if !ok {
			c.log.Warn("tooz: ignoring a znode that is no contender; delete it with zkCli's delete", "path", dir+"/"+ch)
			continue
		}
		q = append(q, e)
	}
	slices.SortFunc(q, func(a, b zentry) int { return int(min(max(a.seq-b.seq, -1), 1)) })
	return q
}

// AcquireShared implements tooz.SharedAcquirer.
func (c *conn) AcquireShared(ctx context.Context, res tooz.Resource, sh tooz.Share, wait bool) (tooz.Ownership, error) {
	s, err := c.live()
	if err != nil {
		return nil, err
	}
	dir := c.sharedDir(res)
	o, ok := s.own()
	if !ok {
		return nil, c.deadSessionErr(s, s.deadErr())
	}
	var czxid int64
	o.path, czxid, _, err = c.createContender(ctx, s, dir, shareTag(sh), false)
	if err != nil {
		o.end()
		return nil, c.mapErr(err)
	}
	err = c.contendShared(ctx, s, o, dir, sh, wait)
	if err == nil && czxid == 0 {
		// The create's reply was lost to a reconnection: read the czxid.
		czxid, err = c.czxid(ctx, s, o)
	}
	if err == nil {
		o.token = uint64(czxid)
		c.watchOwned(o)
		return o, nil
	}
	c.withdraw(o)
	return nil, c.mapErr(err)
}

// czxid reads the czxid of o's znode; a znode gone is a vanished ownership.
func (c *conn) czxid(ctx context.Context, s *session, o *ownership) (int64, error) {
	z, err := c.readCzxid(ctx, s, o.path)
	if errors.Is(err, zk.ErrNoNode) {
		return 0, c.vanished(s, o)
	}
	return z, err
}

// readCzxid reads the czxid of the znode at path, retried across
// reconnections; zk.ErrNoNode when it does not exist.
func (c *conn) readCzxid(ctx context.Context, s *session, path string) (int64, error) {
	var z int64
	err := c.retry(ctx, s, func(int) error {
		st, err := call(ctx, func() (*zk.Stat, error) {
			ok, st, err := s.zk.Exists(path)
			if err == nil && !ok {
				err = zk.ErrNoNode
			}
			return st, err
		})
		if err == nil {
			z = st.Czxid
		}
		return err
	})
	return z, err
}

// contendShared returns nil once o holds by sh, tooz.ErrNotAcquired when
// it does not and wait is false, or why the wait ended.
func (c *conn) contendShared(ctx context.Context, s *session, o *ownership, dir string, sh tooz.Share, wait bool) error {
	name := o.path[strings.LastIndexByte(o.path, '/')+1:]
	first, waited := true, false
	for {
		// A semaphore's first waiter lists with a child watch.
		var (
			children []string
			dirEv    <-chan zk.Event
		)
		err := c.retry(ctx, s, func(int) error {
			var err error
			children, _, dirEv, err = childrenW(ctx, s, dir)
			return err
		})
		if err != nil {
			return err
		}
		q := c.queue(dir, children)
		i := slices.IndexFunc(q, func(e zentry) bool { return e.name == name })
		if i < 0 {
			return c.vanished(s, o)
		}
		ahead := make([]tooz.Share, i)
		for j := range i {
			ahead[j] = q[j].share
		}
		if first {
			first = false
			if err := sh.Agrees(ahead); err != nil {
				return err
			}
		}
		if sh.Holds(ahead) {
			if waited && sh.Limit > 0 {
				c.signalTurn(s, o)
			}
			return nil
		}
		if !wait {
			return tooz.ErrNotAcquired
		}
		waited = true
		// What to watch, and whether its deletion alone makes o hold.
		var (
			target string
			direct bool
		)
		switch {
		case sh.Exclusive:
			target, direct = q[i-1].name, i == 1
		case sh.Limit == 0:
			x, n := "", 0
			for _, e := range q[:i] {
				if e.share.Exclusive {
					x, n = e.name, n+1
				}
			}
			target, direct = x, n == 1
		case i > sh.Limit:
			target = q[i-1].name
		}
		if target == "" {
			// A semaphore's first waiter: any change of the directory.
			select {
			case <-dirEv:
			case <-ctx.Done():
				return ctx.Err()
			case <-o.Lost():
				return c.vanished(s, o)
			}
			continue
		}
		var (
			exists bool
			st     *zk.Stat
			ev     <-chan zk.Event
		)
		err = c.retry(ctx, s, func(int) error {
			type r struct {
				ok bool
				st *zk.Stat
				ev <-chan zk.Event
			}
			v, err := call(ctx, func() (r, error) {
				ok, st, ev, err := s.zk.ExistsW(dir + "/" + target)
				return r{ok, st, ev}, err
			})
			exists, st, ev = v.ok, v.st, v.ev
			return err
		})
		if err != nil {
			return err
		}
		gone := !exists
		switch {
		case gone:
		case sh.Limit > 0 && st.Version > 0:
			// The waiter ahead got its permit already: list again.
			continue
		default:
			select {
			case e := <-ev:
				gone = e.Type == zk.EventNodeDeleted
			case <-ctx.Done():
				return ctx.Err()
			case <-o.Lost():
				return c.vanished(s, o)
			}
		}
		if gone && direct {
			return nil
		}
	}
}

// signalTurn sets o's data (same member ID, new version) so that the
// semaphore waiter watching o lists again: it may be the first waiter now.
// It retries across reconnections (the session, and o, survive them) for
// up to a session timeout; when it gives up, the waiter behind waits until
// o's znode goes (o released, or its session ended).
func (c *conn) signalTurn(s *session, o *ownership) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	err := c.retry(ctx, s, func(int) error {
		_, err := call(ctx, func() (*zk.Stat, error) { return s.zk.Set(o.path, []byte(c.member), -1) })
		return err
	})
	if err != nil {
		c.log.Warn("tooz: could not wake the next semaphore waiter; it waits for this permit's release", "path", o.path, "err", err)
	}
}

// Holders implements tooz.SharedAcquirer: the member IDs (znode data) of
// the contenders that hold, in sequence order, read after a sync.
func (c *conn) Holders(ctx context.Context, res tooz.Resource) ([]string, error) {
	s, err := c.live()
	if err != nil {
		return nil, err
	}
	if err := c.sync(ctx, s); err != nil {
		return nil, c.mapErr(err)
	}
	dir := c.sharedDir(res)
	children, _, err := c.children(ctx, s, dir, false)
	if err != nil {
		return nil, c.mapErr(err)
	}
	var (
		ahead []tooz.Share
		ids   []string
	)
	for _, e := range c.queue(dir, children) {
		if e.share.Holds(ahead) {
			var data []byte
			err := c.retry(ctx, s, func(int) error {
				var err error
				data, _, err = get(ctx, s, dir+"/"+e.name)
				return err
			})
			switch {
			case errors.Is(err, zk.ErrNoNode):
				// Released meanwhile.
			case err != nil:
				return nil, c.mapErr(err)
			case tooz.ValidateID(string(data)) != nil:
				c.log.Warn("tooz: a contender znode holds no member ID", "path", dir+"/"+e.name)
			default:
				ids = append(ids, string(data))
			}
		}
		ahead = append(ahead, e.share)
	}
	return ids, nil
}
