// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
)

func (c *conn) groupPath(g string) string { return c.groups + "/" + keyspace.Escape(g) }

func (c *conn) memberPath(g, m string) string { return c.groupPath(g) + "/" + keyspace.Escape(m) }

// sync makes the server s is connected to catch up with the leader, so
// that the next read reflects every write completed before this call.
func (c *conn) sync(ctx context.Context, s *session) error {
	return c.retry(ctx, s, func(int) error {
		_, err := call(ctx, func() (string, error) { return s.zk.Sync(c.root) })
		return err
	})
}

// groupExists tells ErrGroupNotCreated from ErrMemberNotJoined after a
// member znode was not found.
func (c *conn) groupExists(ctx context.Context, s *session, g string) (bool, error) {
	var ok bool
	err := c.retry(ctx, s, func(int) error {
		var err error
		ok, err = call(ctx, func() (bool, error) {
			ok, _, err := s.zk.Exists(c.groupPath(g))
			return ok, err
		})
		return err
	})
	return ok, err
}

func (c *conn) memberNotFound(ctx context.Context, s *session, g string) error {
	ok, err := c.groupExists(ctx, s, g)
	switch {
	case err != nil:
		return c.mapErr(err)
	case !ok:
		return tooz.ErrGroupNotCreated
	}
	return tooz.ErrMemberNotJoined
}

// CreateGroup implements tooz.CoordinationDriver. The group znode holds a
// token unique to this call, so that a create retried after a connection
// loss recognises its own success.
func (c *conn) CreateGroup(ctx context.Context, g string) error {
	s, err := c.live()
	if err != nil {
		return err
	}
	p := c.groupPath(g)
	token := []byte(driverkit.NewID())
	err = c.retry(ctx, s, func(attempt int) error {
		_, err := call(ctx, func() (string, error) { return s.zk.Create(p, token, zk.FlagPersistent, c.acl) })
		if errors.Is(err, zk.ErrNoNode) { // the namespace was deleted under us
			if err := c.ensurePath(ctx, s, c.groups); err != nil {
				return err
			}
			_, err = call(ctx, func() (string, error) { return s.zk.Create(p, token, zk.FlagPersistent, c.acl) })
		}
		if errors.Is(err, zk.ErrNodeExists) {
			if attempt > 0 {
				data, err := call(ctx, func() ([]byte, error) {
					d, _, err := s.zk.Get(p)
					return d, err
				})
				if err == nil && bytes.Equal(data, token) {
					return nil
				}
			}
			return tooz.ErrGroupAlreadyExists
		}
		return err
	})
	return c.mapErr(err)
}

// DeleteGroup implements tooz.CoordinationDriver: ZooKeeper refuses to
// delete a znode with children, which makes the emptiness check atomic.
func (c *conn) DeleteGroup(ctx context.Context, g string) error {
	s, err := c.live()
	if err != nil {
		return err
	}
	p := c.groupPath(g)
	err = c.retry(ctx, s, func(attempt int) error {
		_, err := call(ctx, func() (struct{}, error) { return struct{}{}, s.zk.Delete(p, -1) })
		switch {
		case errors.Is(err, zk.ErrNoNode):
			if attempt > 0 {
				return nil // our first attempt may have deleted it
			}
			return tooz.ErrGroupNotCreated
		case errors.Is(err, zk.ErrNotEmpty):
			return tooz.ErrGroupNotEmpty
		}
		return err
	})
	return c.mapErr(err)
}

// Groups implements tooz.CoordinationDriver.
func (c *conn) Groups(ctx context.Context) ([]string, error) {
	s, err := c.live()
	if err != nil {
		return nil, err
	}
	if err := c.sync(ctx, s); err != nil {
		return nil, c.mapErr(err)
	}
	var children []string
	err = c.retry(ctx, s, func(int) error {
		var err error
		children, err = call(ctx, func() ([]string, error) {
			ch, _, err := s.zk.Children(c.groups)
			return ch, err
		})
		if errors.Is(err, zk.ErrNoNode) {
			children, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, c.mapErr(err)
	}
	out := make([]string, 0, len(children))
	for _, name := range children {
		g, err := keyspace.Unescape(name)
		if err != nil {
			c.log.Warn("tooz: ignoring a znode that is not a group", "path", c.groups+"/"+name)
			continue
		}
		out = append(out, g)
	}
	return out, nil
}

// JoinGroup implements tooz.CoordinationDriver: the member znode is an
// ephemeral child of the group znode, so the create fails when the group
// does not exist. A create retried after a connection loss that finds the
// znode already there checks whether it belongs to this session (then the
// first attempt succeeded).
func (c *conn) JoinGroup(ctx context.Context, g string, caps []byte) error {
	s, err := c.live()
	if err != nil {
		return err
	}
	p := c.memberPath(g, c.member)
	undo := func(string) { c.deleteQuietly(s, p) }
	err = c.retry(ctx, s, func(attempt int) error {
		_, err := callUndo(ctx, func() (string, error) { return s.zk.Create(p, caps, zk.FlagEphemeral, c.acl) }, undo)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			return tooz.ErrGroupNotCreated
		case errors.Is(err, zk.ErrNodeExists):
			if attempt > 0 {
				st, err := call(ctx, func() (*zk.Stat, error) {
					_, st, err := s.zk.Exists(p)
					return st, err
				})
				if err == nil && st != nil && st.EphemeralOwner == s.id() {
					return nil
				}
			}
			return tooz.ErrMemberAlreadyJoined
		}
		return err
	})
	return c.mapErr(err)
}

// deleteQuietly deletes p, an ephemeral znode of s that nobody must count
// on any more (a create whose caller gave up, an ownership given up while
// the connection was down). When the connection is down, or the delete
// gets no answer, p joins the session's pending cleanups, tried again when
// the client has the session back and after each successful heartbeat,
// until the znode is gone or the session ends (which deletes it too):
// while the session lives, a leftover contender would block its lock for
// good.
func (c *conn) deleteQuietly(s *session, p string) {
	if !s.isConnected() {
		s.pending.Add(p)
		return
	}
	s.pending.Try(func(p string) error { return c.deleteOwned(s, p) }, p)
}

// deleteOwned makes one attempt at deleting p, an ephemeral znode of s.
// It fails only when the attempt may succeed later (no connection, no
// answer in time).
func (c *conn) deleteOwned(s *session, p string) error {
	if s.deadErr() != nil {
		return nil // the znode went with the session
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(c.timeout, driverkit.CleanupTimeout))
	defer cancel()
	_, err := call(ctx, func() (struct{}, error) { return struct{}{}, s.zk.Delete(p, -1) })
	switch {
	case err == nil, errors.Is(err, zk.ErrNoNode):
		return nil
	case connLoss(err), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	if s.deadErr() == nil {
		c.log.Warn("tooz: could not delete a znode that is not wanted any more; it goes with the session",
			"path", p, "err", err)
	}
	return nil
}

// runPending tries s's pending cleanups again, in the background.
func (c *conn) runPending(s *session) {
	if s.pending.Len() > 0 {
		c.spawn(func() { s.pending.Run(func(p string) error { return c.deleteOwned(s, p) }) })
	}
}

// LeaveGroup implements tooz.CoordinationDriver.
func (c *conn) LeaveGroup(ctx context.Context, g string) error {
	s, err := c.live()
	if err != nil {
		return err
	}
	p := c.memberPath(g, c.member)
	notFound := false
	err = c.retry(ctx, s, func(attempt int) error {
		_, err := call(ctx, func() (struct{}, error) { return struct{}{}, s.zk.Delete(p, -1) })
		if errors.Is(err, zk.ErrNoNode) {
			notFound = attempt == 0
			return nil
		}
		return err
	})
	if err != nil {
		return c.mapErr(err)
	}
	if notFound {
		return c.memberNotFound(ctx, s, g)
	}
	return nil
}

// UpdateCapabilities implements tooz.CoordinationDriver.
func (c *conn) UpdateCapabilities(ctx context.Context, g string, caps []byte) error {
	s, err := c.live()
	if err != nil {
		return err
	}
	p := c.memberPath(g, c.member)
	err = c.retry(ctx, s, func(int) error {
		_, err := call(ctx, func() (*zk.Stat, error) { return s.zk.Set(p, caps, -1) })
		return err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return c.memberNotFound(ctx, s, g)
	}
	return c.mapErr(err)
}

// info builds a MemberInfo from a member znode.
func info(id string, data []byte, st *zk.Stat) tooz.MemberInfo {
	return tooz.MemberInfo{
		ID:           id,
		Capabilities: bytes.Clone(data),
		JoinedAt:     time.UnixMilli(st.Ctime),
		UpdatedAt:    time.UnixMilli(st.Mtime),
		Incarnation:  strconv.FormatInt(st.EphemeralOwner, 16), // the session
	}
}

// MemberInfo implements tooz.CoordinationDriver. The times are the member
// znode's creation and modification times (server clock, milliseconds).
func (c *conn) MemberInfo(ctx context.Context, g, m string) (tooz.MemberInfo, error) {
	s, err := c.live()
	if err != nil {
		return tooz.MemberInfo{}, err
	}
	if err := c.sync(ctx, s); err != nil {
		return tooz.MemberInfo{}, c.mapErr(err)
	}
	var (
		data []byte
		st   *zk.Stat
	)
	err = c.retry(ctx, s, func(int) error {
		var err error
		data, st, err = get(ctx, s, c.memberPath(g, m))
		return err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return tooz.MemberInfo{}, c.memberNotFound(ctx, s, g)
	}
	if err != nil {
		return tooz.MemberInfo{}, c.mapErr(err)
	}
	if st.EphemeralOwner == 0 {
		c.log.Warn("tooz: ignoring a persistent znode among members", "path", c.memberPath(g, m))
		return tooz.MemberInfo{}, tooz.ErrMemberNotJoined
	}
	return info(m, data, st), nil
}

func get(ctx context.Context, s *session, p string) ([]byte, *zk.Stat, error) {
	type r struct {
		d  []byte
		st *zk.Stat
	}
	v, err := call(ctx, func() (r, error) {
		d, st, err := s.zk.Get(p)
		return r{d, st}, err
	})
	return v.d, v.st, err
}

// childrenW lists p's children and sets a child watch on it, honouring ctx.
func childrenW(ctx context.Context, s *session, p string) ([]string, *zk.Stat, <-chan zk.Event, error) {
	type r struct {
		ch []string
		st *zk.Stat
		ev <-chan zk.Event
	}
	v, err := call(ctx, func() (r, error) {
		ch, st, ev, err := s.zk.ChildrenW(p)
		return r{ch, st, ev}, err
	})
	return v.ch, v.st, v.ev, err
}

// Members implements tooz.CoordinationDriver: a listing, then every
// member's znode read with the requests pipelined (ZooKeeper has no read
// of a znode's children with their data), so about two round trips.
func (c *conn) Members(ctx context.Context, g string) ([]tooz.MemberInfo, error) {
	s, err := c.live()
	if err != nil {
		return nil, err
	}
	if err := c.sync(ctx, s); err != nil {
		return nil, c.mapErr(err)
	}
	gp := c.groupPath(g)
	var out []tooz.MemberInfo
	err = c.retry(ctx, s, func(int) error {
		children, err := call(ctx, func() ([]string, error) {
			ch, _, err := s.zk.Children(gp)
			return ch, err
		})
		if errors.Is(err, zk.ErrNoNode) {
			return tooz.ErrGroupNotCreated
		}
		if err != nil {
			return err
		}
		out, err = c.readMembers(ctx, s, gp, children)
		return err
	})
	return out, c.mapErr(err)
}

// readBatch is how many member reads readMembers sends at once on the
// session's one connection before it waits for their answers: ZooKeeper
// answers pipelined requests in order, so a listing of n members costs
// about n/readBatch round trips (go-zookeeper has no multi-read). 1,000 is
// the server's default globalOutstandingLimit, past which it stops reading
// the connection. Batches in lockstep, rather than a sliding window, keep
// the round trips at that count: a window refilled one answer at a time
// turns the connection around for every answer once it is full.
const readBatch = 1000

// readMembers reads the member znodes named by children, a batch at a
// time (see readNodes). Members that left meanwhile are skipped.
func (c *conn) readMembers(ctx context.Context, s *session, gp string, children []string) ([]tooz.MemberInfo, error) {
	var names []string
	for _, name := range children {
		if _, err := keyspace.Unescape(name); err != nil {
			c.log.Warn("tooz: ignoring a znode that is not a member", "path", gp+"/"+name)
			continue
		}
		names = append(names, name)
	}
	nodes, err := c.readNodes(ctx, s, gp, names)
	if err != nil {
		return nil, err
	}
	v := memberView{c: c, gp: gp}
	out := make([]tooz.MemberInfo, 0, len(nodes))
	for i := range nodes {
		if m, ok := v.member(nodes[i].name, nodes[i].data, &nodes[i].st); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// readNodes reads the znodes dir/name, a batch at a time, and returns
// those that still exist, in the order of names. More than one batch is
// read on a connection of its own (see readMany), which writes each batch
// at once: go-zookeeper writes request by request, and the server starts
// answering a batch while the rest still arrives, turning the connection
// around several times per batch.
func (c *conn) readNodes(ctx context.Context, s *session, dir string, names []string) ([]pnode, error) {
	if len(names) > readBatch {
		nodes, err := c.readMany(ctx, dir, names)
		if err == nil || ctx.Err() != nil || errors.Is(err, tooz.ErrAuth) {
			return nodes, err
		}
		c.log.Info("tooz: a batched listing failed; reading through the session", "dir", dir, "err", err)
	}
	type result struct {
		node pnode
		ok   bool
		err  error
	}
	res := make([]result, len(names))
	for start := 0; start < len(names); start += readBatch {
		var wg sync.WaitGroup
		for i := start; i < min(start+readBatch, len(names)); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data, st, err := get(ctx, s, dir+"/"+names[i])
				switch {
				case errors.Is(err, zk.ErrNoNode):
				case err != nil:
					res[i].err = err
				default:
					res[i] = result{node: pnode{name: names[i], data: data, st: *st}, ok: true}
				}
			}()
		}
		wg.Wait()
	}
	out := make([]pnode, 0, len(names))
	for _, r := range res {
		if r.err != nil {
			return nil, r.err
		}
		if r.ok {
			out = append(out, r.node)
		}
	}
	return out, nil
}

// exists reads p's stat, honouring ctx.
func exists(ctx context.Context, s *session, p string) (bool, *zk.Stat, error) {
	type r struct {
		ok bool
		st *zk.Stat
	}
	v, err := call(ctx, func() (r, error) {
		ok, st, err := s.zk.Exists(p)
		return r{ok, st}, err
	})
	return v.ok, v.st, err
}

// groupWatch follows one group's children with ZooKeeper child watches.
// A child watch fires once and says only "changed": after every firing,
// and after every reconnection or new session, the group is listed again
// (which re-arms the watch) and the difference is reported.
type groupWatch struct {
	c      *conn
	group  string
	path   string
	sink   tooz.GroupSink
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// The last listing.
	members  map[string]bool // escaped names
	exists   bool
	czxid    int64 // the group znode's, to notice a delete and re-create
	cversion int32
	pzxid    int64
}

// watchChildren follows group with child watches, for servers without
// persistent watches (see WatchMembers).
func (c *conn) watchChildren(ctx context.Context, g string, sink tooz.GroupSink) (func(), error) {
	s, err := c.live()
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	w := &groupWatch{c: c, group: g, path: c.groupPath(g), sink: sink, ctx: wctx, cancel: cancel, done: make(chan struct{})}
	gen := s.connGen()
	var ev <-chan zk.Event
	err = c.retry(ctx, s, func(int) error {
		var err error
		ev, err = w.list(ctx, s, true)
		return err
	})
	if err != nil {
		cancel()
		return nil, c.mapErr(err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return nil, tooz.ErrClosed
	}
	c.watches[w] = struct{}{}
	c.mu.Unlock()
	go w.run(s, gen, ev)
	return w.stop, nil
}

// stop ends the watch and waits for its goroutine: the sink is not called after.
func (w *groupWatch) stop() {
	w.cancel()
	<-w.done
	w.c.mu.Lock()
	delete(w.c.watches, w)
	w.c.mu.Unlock()
}

// list lists the group, arms a watch, and reports the difference from the
// last listing to the sink (or resets it, on the first). The channel
// returned fires at the next change.
func (w *groupWatch) list(ctx context.Context, s *session, first bool) (<-chan zk.Event, error) {
	for {
		type r struct {
			children []string
			st       *zk.Stat
			ch       <-chan zk.Event
		}
		v, err := call(ctx, func() (r, error) {
			ch, st, ev, err := s.zk.ChildrenW(w.path)
			return r{ch, st, ev}, err
		})
		if errors.Is(err, zk.ErrNoNode) {
			// Wait for the group to be created.
			type e struct {
				ok bool
				ch <-chan zk.Event
			}
			x, err := call(ctx, func() (e, error) {
				ok, _, ch, err := s.zk.ExistsW(w.path)
				return e{ok, ch}, err
			})
			if err != nil {
				return nil, err
			}
			if x.ok {
				continue // created meanwhile
			}
			if err := w.apply(ctx, s, nil, nil, first); err != nil {
				return nil, err
			}
			return x.ch, nil
		}
		if err != nil {
			return nil, err
		}
		if err := w.apply(ctx, s, v.children, v.st, first); err != nil {
			return nil, err
		}
		return v.ch, nil
	}
}

// apply reports the listing children (st: the group znode's stat, nil when
// the group does not exist). When a member's creation zxid, which orders
// the joins, cannot be read, it reports nothing and returns the error: the
// caller lists again.
func (w *groupWatch) apply(ctx context.Context, s *session, children []string, st *zk.Stat, first bool) error {
	next := make(map[string]bool, len(children))
	for _, name := range children {
		if _, err := keyspace.Unescape(name); err != nil {
			continue
		}
		next[name] = true
	}
	if first {
		ids := make([]string, 0, len(next))
		for name := range next {
			id, _ := keyspace.Unescape(name)
			ids = append(ids, id)
		}
		w.sink.Reset(ids)
	} else {
		var left, joined []string
		for name := range w.members {
			if !next[name] {
				left = append(left, name)
			}
		}
		for name := range next {
			if !w.members[name] {
				joined = append(joined, name)
			}
		}
		// Children in both listings may have left and joined again in
		// between: the group's child version counts every create and
		// delete, so a count above what the difference explains means
		// some did, and those have a znode created after the last
		// listing.
		var again []string
		if st != nil && w.exists {
			switch {
			case st.Czxid != w.czxid: // deleted (hence emptied) and re-created
				for name := range next {
					if w.members[name] {
						again = append(again, name)
					}
				}
			case len(next) > len(joined) && int(st.Cversion-w.cversion) > len(left)+len(joined):
				var common []string
				for name := range next {
					if w.members[name] {
						common = append(common, name)
					}
				}
				cz, err := w.czxids(ctx, s, common)
				if err != nil {
					return err
				}
				for name, czxid := range cz {
					if czxid > w.pzxid {
						again = append(again, name)
					}
				}
			}
		}
		// The order of the leaves is lost; the joins are reported in the
		// order of their znodes' creation.
		left = append(left, again...)
		slices.Sort(left)
		joined = append(joined, again...)
		slices.Sort(joined)
		if len(joined) > 1 {
			cz, err := w.czxids(ctx, s, joined)
			if err != nil {
				return err
			}
			slices.SortStableFunc(joined, func(a, b string) int {
				za, oka := cz[a]
				zb, okb := cz[b]
				switch {
				case oka && okb:
					return cmp.Compare(za, zb)
				case oka:
					return -1
				case okb:
					return 1
				}
				return 0
			})
		}
		for _, name := range left {
			id, _ := keyspace.Unescape(name)
			w.sink.Left(id)
		}
		for _, name := range joined {
			id, _ := keyspace.Unescape(name)
			w.sink.Joined(id)
		}
	}
	w.members = next
	w.exists = st != nil
	if st != nil {
		w.czxid, w.cversion, w.pzxid = st.Czxid, st.Cversion, st.Pzxid
	} else {
		w.czxid, w.cversion, w.pzxid = 0, 0, 0
	}
	return nil
}

// czxids returns the creation zxids of the members named, read
// concurrently; members that left meanwhile are missing. Any other failed
// read is an error (a member left out for it would be misordered).
func (w *groupWatch) czxids(ctx context.Context, s *session, names []string) (map[string]int64, error) {
	var (
		mu   sync.Mutex
		out  = make(map[string]int64, len(names))
		wg   sync.WaitGroup
		fail error
	)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := call(ctx, func() (*zk.Stat, error) {
				ok, st, err := s.zk.Exists(w.path + "/" + name)
				if err == nil && !ok {
					err = zk.ErrNoNode
				}
				return st, err
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				out[name] = st.Czxid
			case !errors.Is(err, zk.ErrNoNode) && fail == nil:
				fail = err
			}
		}()
	}
	wg.Wait()
	return out, fail
}

// run waits for the watch to fire, for a reconnection or for a new
// session, and lists the group again each time.
func (w *groupWatch) run(s *session, gen int, ev <-chan zk.Event) {
	defer close(w.done)
	w.c.follow(w.ctx, "group "+w.group, s, gen, ev, func(ctx context.Context, s *session) (<-chan zk.Event, error) {
		return w.list(ctx, s, false)
	})
}

// follow re-arms a one-shot watch with arm whenever it fires (ev), the
// connection comes back or a new session begins, on the current session,
// until that works; it returns when ctx ends or the driver closes. what
// names the watch in logs.
func (c *conn) follow(ctx context.Context, what string, s *session, gen int, ev <-chan zk.Event, arm func(context.Context, *session) (<-chan zk.Event, error)) {
	_, stateCh, _ := c.current()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ev:
		case <-stateCh:
			cur, ch, closed := c.current()
			stateCh = ch
			if closed {
				return
			}
			if cur == s && cur.connGen() == gen {
				continue // suspended, or nothing that concerns the watch
			}
		}
		// Arm again, on the current session, until that works.
		for {
			cur, ch, closed := c.current()
			if closed || ctx.Err() != nil {
				return
			}
			stateCh = ch
			if cur.deadErr() != nil {
				select {
				case <-ctx.Done():
					return
				case <-ch:
					continue
				}
			}
			s, gen = cur, cur.connGen()
			next, err := arm(ctx, s)
			if err == nil {
				ev = next
				break
			}
			if ctx.Err() != nil {
				return
			}
			c.log.Debug("tooz: re-arming a watch failed; retrying", "watch", what, "err", err)
			if connLoss(err) {
				_ = s.waitConnected(ctx, c.timeout)
				continue
			}
			// Session ended or another failure (e.g. an ACL change):
			// try again on the next change of state, or in a second.
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-ch:
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// connGen counts the client's (re)connections within the session.
func (s *session) connGen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}
