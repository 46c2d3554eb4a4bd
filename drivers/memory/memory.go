// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package memory registers the "memory" driver: coordination between
// coordinators of one process. Every coordinator opened on the same URL
// (memory://NAME) shares one state, and liveness is simulated faithfully —
// a coordinator that stops heartbeating expires after its timeout, freeing
// its memberships, locks and leaderships — so multi-member behaviour can be
// tested without a server.
//
//	c, err := tooz.Open(ctx, "memory://test", "worker-1")
package memory

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/membersink"
)

func init() {
	tooz.Register("memory", &driver{stores: map[string]*store{}})
}

// driver holds the named in-process stores.
type driver struct {
	mu     sync.Mutex
	stores map[string]*store
}

// Options implements tooz.Driver: memory takes only the common options.
func (d *driver) Options() []string { return nil }

// Open implements tooz.Driver.
func (d *driver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := cfg.URL.Host + cfg.URL.Path + "\x00" + cfg.Namespace
	d.mu.Lock()
	st := d.stores[key]
	if st == nil {
		st = &store{
			groups:   map[string]*group{},
			res:      map[resKey]*resource{},
			watchers: map[string]map[*watcher]struct{}{},
			keys:     map[string]*entry{},

			keyWatchers: map[*keyWatcher]struct{}{},
		}
		d.stores[key] = st
	}
	d.mu.Unlock()
	c := &conn{st: st, member: cfg.MemberID, timeout: cfg.Timeout}
	st.mu.Lock()
	c.sess = st.newSession(c)
	st.mu.Unlock()
	return c, nil
}

type resKey struct {
	kind tooz.ResourceKind
	name string
}

// store is one shared state. Everything in it is guarded by mu; sinks are
// called with mu held, which keeps every watcher's events in commit order.
type store struct {
	mu       sync.Mutex
	groups   map[string]*group
	res      map[resKey]*resource
	watchers map[string]map[*watcher]struct{}
	keys     map[string]*entry
	rev      uint64 // counts membership and key changes, reported as their revision
	sessions uint64 // counts sessions, to name them

	keyWatchers map[*keyWatcher]struct{}
}

type group struct {
	members map[string]*member
}

type member struct {
	info tooz.MemberInfo
	sess *session
}

// session is one coordinator's liveness.
type session struct {
	id     string // the incarnation members report
	conn   *conn
	timer  *time.Timer
	dead   bool
	groups map[string]struct{}
	owns   map[*contender]struct{}
	keys   map[string]struct{} // ephemeral keys bound to it
}

type resource struct {
	queue    []*contender // oldest first; tooz.Share.Holds says which hold (queue[0] owns a lock)
	fence    uint64
	watchers map[*func()]struct{} // WatchOwner: told of every change of the queue
}

type contender struct {
	key   resKey
	sess  *session
	share tooz.Share // how it holds: exclusive for a lock or leadership
	held  bool
	token uint64
	ready chan struct{}   // closed when it becomes the owner
	hold  *driverkit.Hold // ends when it leaves the queue
}

type watcher struct {
	sink tooz.MemberSink
}

// conn is one coordinator's driver.
type conn struct {
	st      *store
	member  string
	timeout time.Duration
	sess    *session // guarded by st.mu
	closed  bool     // guarded by st.mu
}

func (st *store) newSession(c *conn) *session {
	st.sessions++
	s := &session{id: strconv.FormatUint(st.sessions, 10), conn: c, groups: map[string]struct{}{}, owns: map[*contender]struct{}{}, keys: map[string]struct{}{}}
	s.timer = time.AfterFunc(c.timeout, func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		st.expire(s)
	})
	return s
}

// expire ends s: its memberships and contenders vanish, as on a backend
// whose lease ran out. Called with st.mu held.
func (st *store) expire(s *session) {
	if s.dead {
		return
	}
	s.dead = true
	s.timer.Stop()
	for g := range s.groups {
		st.removeMember(g, s.conn.member)
	}
	for ct := range s.owns {
		st.withdraw(ct)
	}
	for key := range s.keys {
		st.deleteKey(key)
	}
}

func (st *store) removeMember(g, member string) {
	grp := st.groups[g]
	if grp == nil {
		return
	}
	if m := grp.members[member]; m != nil {
		delete(m.sess.groups, g)
		delete(grp.members, member)
		st.rev++
		for w := range st.watchers[g] {
			w.sink.Left(member, st.rev)
		}
	}
}

// withdraw removes ct from its queue, promoting the next contender if ct owned it.
func (st *store) withdraw(ct *contender) {
	delete(ct.sess.owns, ct)
	if !ct.hold.End() {
		return
	}
	r := st.res[ct.key]
	if r == nil {
		return
	}
	for i, q := range r.queue {
		if q == ct {
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			st.promote(r)
			break
		}
	}
}

// promote grants every contender of r's queue that holds by
// tooz.Share.Holds and did not yet, each with the next fencing token, and
// wakes only those. Called with st.mu held.
func (st *store) promote(r *resource) {
	var buf [16]tooz.Share
	ahead := buf[:0]
	for _, ct := range r.queue {
		if !ct.held && ct.share.Holds(ahead) {
			ct.held = true
			r.fence++
			ct.token = r.fence
			close(ct.ready)
		}
		ahead = append(ahead, ct.share)
	}
	for changed := range r.watchers {
		(*changed)()
	}
}

// WatchLeader needs OwnerWatcher, and the Coordinator follows an
// ownership without a goroutine only through LostNotifier: keep the method
// sets from drifting.
var (
	_ tooz.OwnerWatcher = (*conn)(nil)
	_ tooz.LostNotifier = (*ownership)(nil)
)

// WatchOwner implements tooz.OwnerWatcher: every change of the
// resource's queue calls changed.
func (c *conn) WatchOwner(ctx context.Context, res tooz.Resource, changed func(tooz.OwnerChange)) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if c.closed {
		return nil, tooz.ErrClosed
	}
	key := resKey{res.Kind, res.Name}
	r := c.st.res[key]
	if r == nil {
		r = &resource{}
		c.st.res[key] = r
	}
	if r.watchers == nil {
		r.watchers = map[*func()]struct{}{}
	}
	fn := new(func())
	*fn = func() { changed(tooz.OwnerChange{}) }
	r.watchers[fn] = struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			c.st.mu.Lock()
			delete(r.watchers, fn)
			c.st.mu.Unlock()
		})
	}, nil
}

// live returns the current session, or an error if the conn is closed or its session died.
func (c *conn) live() (*session, error) {
	if c.closed {
		return nil, tooz.ErrClosed
	}
	if c.sess.dead {
		return nil, fmt.Errorf("%w: waiting for the next heartbeat to renew it", tooz.ErrSessionLost)
	}
	return c.sess, nil
}

// Characteristics implements tooz.CoordinationDriver.
func (c *conn) Characteristics() []tooz.Characteristic {
	return []tooz.Characteristic{
		tooz.DistributedAcrossThreads, tooz.Linearizable, tooz.Sequential, tooz.Causal,
		tooz.Serializable, tooz.SameViewAcrossClients, tooz.SameViewUnderPartitions,
	}
}

// Heartbeat implements tooz.CoordinationDriver.
func (c *conn) Heartbeat(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if c.closed {
		return 0, tooz.ErrClosed
	}
	next := c.timeout / 3
	if c.sess.dead {
		c.sess = c.st.newSession(c)
		return next, fmt.Errorf("%w: the session expired; a new one is in place", tooz.ErrSessionLost)
	}
	c.sess.timer.Reset(c.timeout)
	return next, nil
}

// Close implements tooz.CoordinationDriver.
func (c *conn) Close(ctx context.Context) error {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.st.expire(c.sess)
	}
	return nil
}

// Abandon implements tooz.Abandoner: the session is left to expire.
func (c *conn) Abandon() {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	c.closed = true
}

// CreateGroup implements tooz.CoordinationDriver.
func (c *conn) CreateGroup(ctx context.Context, g string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if _, err := c.live(); err != nil {
		return err
	}
	if c.st.groups[g] != nil {
		return tooz.ErrGroupAlreadyExists
	}
	c.st.groups[g] = &group{members: map[string]*member{}}
	return nil
}

// DeleteGroup implements tooz.CoordinationDriver.
func (c *conn) DeleteGroup(ctx context.Context, g string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if _, err := c.live(); err != nil {
		return err
	}
	grp := c.st.groups[g]
	switch {
	case grp == nil:
		return tooz.ErrGroupNotCreated
	case len(grp.members) > 0:
		return tooz.ErrGroupNotEmpty
	}
	delete(c.st.groups, g)
	return nil
}

// Groups implements tooz.CoordinationDriver.
func (c *conn) Groups(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if _, err := c.live(); err != nil {
		return nil, err
	}
	gs := make([]string, 0, len(c.st.groups))
	for g := range c.st.groups {
		gs = append(gs, g)
	}
	return gs, nil
}

// JoinGroup implements tooz.CoordinationDriver.
func (c *conn) JoinGroup(ctx context.Context, g string, caps []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	s, err := c.live()
	if err != nil {
		return err
	}
	grp := c.st.groups[g]
	if grp == nil {
		return tooz.ErrGroupNotCreated
	}
	if grp.members[c.member] != nil {
		return tooz.ErrMemberAlreadyJoined
	}
	now := time.Now()
	grp.members[c.member] = &member{
		info: tooz.MemberInfo{ID: c.member, Capabilities: bytes.Clone(caps), JoinedAt: now, UpdatedAt: now, Incarnation: s.id},
		sess: s,
	}
	s.groups[g] = struct{}{}
	c.st.rev++
	for w := range c.st.watchers[g] {
		w.sink.Joined(grp.members[c.member].info, c.st.rev)
	}
	return nil
}

// LeaveGroup implements tooz.CoordinationDriver.
func (c *conn) LeaveGroup(ctx context.Context, g string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if _, err := c.live(); err != nil {
		return err
	}
	grp := c.st.groups[g]
	if grp == nil {
		return tooz.ErrGroupNotCreated
	}
	if grp.members[c.member] == nil {
		return tooz.ErrMemberNotJoined
	}
	c.st.removeMember(g, c.member)
	return nil
}

// Members implements tooz.CoordinationDriver.
func (c *conn) Members(ctx context.Context, g string) ([]tooz.MemberInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if _, err := c.live(); err != nil {
		return nil, err
	}
	grp := c.st.groups[g]
	if grp == nil {
		return nil, tooz.ErrGroupNotCreated
	}
	out := make([]tooz.MemberInfo, 0, len(grp.members))
	for _, m := range grp.members {
		info := m.info
		info.Capabilities = bytes.Clone(info.Capabilities)
		out = append(out, info)
	}
	return out, nil
}

// MemberInfo implements tooz.CoordinationDriver.
func (c *conn) MemberInfo(ctx context.Context, g, id string) (tooz.MemberInfo, error) {
	if err := ctx.Err(); err != nil {
		return tooz.MemberInfo{}, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if _, err := c.live(); err != nil {
		return tooz.MemberInfo{}, err
	}
	grp := c.st.groups[g]
	if grp == nil {
		return tooz.MemberInfo{}, tooz.ErrGroupNotCreated
	}
	m := grp.members[id]
	if m == nil {
		return tooz.MemberInfo{}, tooz.ErrMemberNotJoined
	}
	info := m.info
	info.Capabilities = bytes.Clone(info.Capabilities)
	return info, nil
}

// UpdateCapabilities implements tooz.CoordinationDriver.
func (c *conn) UpdateCapabilities(ctx context.Context, g string, caps []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if _, err := c.live(); err != nil {
		return err
	}
	grp := c.st.groups[g]
	if grp == nil {
		return tooz.ErrGroupNotCreated
	}
	m := grp.members[c.member]
	if m == nil {
		return tooz.ErrMemberNotJoined
	}
	m.info.Capabilities = bytes.Clone(caps)
	m.info.UpdatedAt = time.Now()
	c.st.rev++
	for w := range c.st.watchers[g] {
		w.sink.Updated(m.info, c.st.rev)
	}
	return nil
}

// WatchGroup implements tooz.CoordinationDriver.
func (c *conn) WatchGroup(ctx context.Context, g string, sink tooz.GroupSink) (func(), error) {
	return c.WatchMembers(ctx, g, membersink.Legacy(sink))
}

// WatchMembers implements tooz.MemberWatcher.
func (c *conn) WatchMembers(ctx context.Context, g string, sink tooz.MemberSink) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if c.closed {
		return nil, tooz.ErrClosed
	}
	var infos []tooz.MemberInfo
	if grp := c.st.groups[g]; grp != nil {
		for _, m := range grp.members {
			infos = append(infos, m.info)
		}
	}
	sink.Snapshot(infos, c.st.rev)
	w := &watcher{sink: sink}
	if c.st.watchers[g] == nil {
		c.st.watchers[g] = map[*watcher]struct{}{}
	}
	c.st.watchers[g][w] = struct{}{}
	return func() {
		c.st.mu.Lock()
		defer c.st.mu.Unlock()
		delete(c.st.watchers[g], w)
	}, nil
}

// Acquire implements tooz.CoordinationDriver: an exclusive contender in
// the resource's queue (see AcquireShared).
func (c *conn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	return c.AcquireShared(ctx, res, tooz.Share{Exclusive: true}, wait)
}

// Owner implements tooz.CoordinationDriver.
func (c *conn) Owner(ctx context.Context, res tooz.Resource) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if c.closed {
		return "", tooz.ErrClosed
	}
	r := c.st.res[resKey{res.Kind, res.Name}]
	if r == nil || len(r.queue) == 0 {
		return "", tooz.ErrNoLeader
	}
	return r.queue[0].sess.conn.member, nil
}

type ownership struct {
	*driverkit.Hold // Lost, OnLost: the contender's
	st              *store
	ct              *contender
}

func (o *ownership) FencingToken() uint64 { return o.ct.token }

func (o *ownership) Release(ctx context.Context) error {
	o.st.mu.Lock()
	defer o.st.mu.Unlock()
	if o.Ended() {
		return tooz.ErrLockNotHeld
	}
	o.st.withdraw(o.ct)
	return nil
}
