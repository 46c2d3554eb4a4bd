// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// MemberJoined is delivered to WatchJoinGroup hooks when a member joins.
type MemberJoined struct {
	Group  string
	Member string
}

// MemberLeft is delivered to WatchLeaveGroup hooks when a member leaves or expires.
type MemberLeft struct {
	Group  string
	Member string
}

// ElectedAsLeader is delivered to WatchElectedAsLeader hooks when this
// member becomes the group's leader.
type ElectedAsLeader struct {
	Group        string
	Member       string
	FencingToken uint64
}

// LeadershipLost is delivered to WatchLeadershipLost hooks when this member
// stops being the group's leader. Err is nil after a Resign, StandDown or
// Close, and wraps ErrSessionLost when the leadership was lost.
type LeadershipLost struct {
	Group  string
	Member string
	Err    error
}

// Watch is a registered hook. Stop unregisters it.
type Watch struct {
	once sync.Once
	stop func()
}

// Stop unregisters the hook: no call of it starts after Stop returns (a
// call already running is not waited for). Stop is safe to call twice and
// from within the hook.
func (w *Watch) Stop() {
	if w != nil {
		w.once.Do(w.stop)
	}
}

type hookKind int

const (
	hookJoin hookKind = iota
	hookLeave
	hookElected
	hookLost
	hookUpdate  // WatchUpdateGroup
	hookMembers // WatchMembers
)

// membership reports whether hooks of kind k need the driver's group watch.
func (k hookKind) membership() bool {
	return k == hookJoin || k == hookLeave || k == hookUpdate || k == hookMembers
}

type hook struct {
	kind   hookKind
	fn     func(any)
	since  uint64 // only events queued after registration are delivered
	primed bool   // a WatchMembers hook that was given its first snapshot
}

type queued struct {
	seq uint64
	ev  any
	at  time.Time // when it was queued: the change had reached the Coordinator
}

// hub holds one group's hooks, its known membership, its driver watch and
// its queue of events, delivered in order on one goroutine at a time.
type hub struct {
	c     *Coordinator
	group string

	watchMu sync.Mutex // serializes starting and stopping the driver watch
	drvStop func()     // guarded by watchMu

	mu            sync.Mutex
	hooks         map[uint64]*hook
	nextID        uint64
	members       map[string]MemberInfo // as of the last queued change
	given         map[string]MemberInfo // as of the last change taken off the queue
	rev           uint64                // the highest backend revision reported
	baselined     bool
	queue         []queued
	queuedChanges int    // membership changes and snapshots in queue
	seq           uint64 // sequence number of the last queued event
	draining      bool
	closed        bool
}

func (c *Coordinator) hubFor(group string, create bool) *hub {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hubs[group]
	if h == nil && create && !c.closed {
		h = &hub{c: c, group: group, hooks: map[uint64]*hook{}}
		c.hubs[group] = h
	}
	return h
}

// emit queues ev for group's hooks, if the group has a hub.
func (c *Coordinator) emit(group string, ev any) {
	if h := c.hubFor(group, false); h != nil {
		h.enqueue(ev)
	}
}

func (h *hub) membershipHooks() int {
	n := 0
	for _, k := range h.hooks {
		if k.kind.membership() {
			n++
		}
	}
	return n
}

// add registers fn; for membership hooks it starts the driver watch first.
// A WatchMembers hook is given a snapshot of the membership as of its
// registration, queued before every later change.
func (h *hub) add(ctx context.Context, kind hookKind, fn func(any)) (*Watch, error) {
	k := &hook{kind: kind, fn: fn}
	if kind.membership() {
		mw, rich := h.c.drv.(MemberWatcher)
		if !rich && (kind == hookUpdate || kind == hookMembers) {
			return nil, ErrNotSupported
		}
		h.watchMu.Lock()
		defer h.watchMu.Unlock()
		if h.drvStop == nil {
			h.mu.Lock()
			h.baselined = false
			h.members = nil
			h.given = nil
			h.mu.Unlock()
			var (
				stop func()
				err  error
			)
			if rich {
				stop, err = mw.WatchMembers(ctx, h.group, memberSink{h})
			} else {
				stop, err = h.c.drv.WatchGroup(ctx, h.group, h)
			}
			if err != nil {
				return nil, err
			}
			h.drvStop = stop
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	id := h.nextID
	h.nextID++
	k.since = h.seq
	h.hooks[id] = k
	if kind == hookMembers {
		h.queuedChanges++
		h.enqueueLocked(snapshot{members: h.sortedMembers(), rev: h.rev, target: id + 1})
	}
	h.mu.Unlock()
	return &Watch{stop: func() { h.remove(id) }}, nil
}

func (h *hub) remove(id uint64) {
	h.mu.Lock()
	k := h.hooks[id]
	if k == nil {
		h.mu.Unlock()
		return
	}
	delete(h.hooks, id)
	left := h.membershipHooks()
	h.mu.Unlock()
	if k.kind.membership() && left == 0 {
		// Stop the driver watch in the background: Stop may be called from
		// within a hook, and the watch's stop may wait for its goroutine.
		go func() {
			h.watchMu.Lock()
			defer h.watchMu.Unlock()
			h.mu.Lock()
			still := h.membershipHooks()
			h.mu.Unlock()
			if still == 0 && h.drvStop != nil {
				h.drvStop()
				h.drvStop = nil
			}
		}()
	}
}

func (h *hub) stopDriverWatch() {
	h.watchMu.Lock()
	defer h.watchMu.Unlock()
	if h.drvStop != nil {
		h.drvStop()
		h.drvStop = nil
	}
}

// close stops new deliveries once the queue drains.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	if h.c.explicit {
		h.queue = nil
		h.queuedChanges = 0
	}
	h.mu.Unlock()
}

// Reset implements GroupSink, for drivers without MemberWatcher.
func (h *hub) Reset(members []string) {
	infos := make([]MemberInfo, len(members))
	for i, m := range members {
		infos[i] = MemberInfo{ID: m}
	}
	h.snapshot(infos, 0)
}

// Joined implements GroupSink.
func (h *hub) Joined(member string) { h.joined(MemberInfo{ID: member}, 0) }

// Left implements GroupSink.
func (h *hub) Left(member string) { h.left(member, 0) }

func (h *hub) enqueue(ev any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.enqueueLocked(ev)
}

func (h *hub) enqueueLocked(ev any) {
	if h.closed && h.c.explicit {
		return
	}
	h.seq++
	h.queue = append(h.queue, queued{seq: h.seq, ev: ev, at: time.Now()})
	if !h.c.explicit && !h.draining {
		h.draining = true
		go h.drain()
	}
}

// drain delivers queued events until the queue is empty; it returns how
// many hook calls it made. In explicit mode it is called by RunWatchers and
// claims the queue itself; otherwise enqueue claimed it.
func (h *hub) drain() int {
	if h.c.explicit {
		h.mu.Lock()
		if h.draining {
			h.mu.Unlock()
			return 0
		}
		h.draining = true
		h.mu.Unlock()
	}
	n := 0
	for {
		h.mu.Lock()
		if len(h.queue) == 0 {
			h.draining = false
			h.mu.Unlock()
			return n
		}
		q := h.queue[0]
		h.queue[0] = queued{}
		h.queue = h.queue[1:]
		ev := q.ev
		switch e := ev.(type) {
		case change:
			h.queuedChanges--
			h.give(e)
		case snapshot:
			h.queuedChanges--
		}
		ids := make([]uint64, 0, len(h.hooks))
		for id, k := range h.hooks {
			if k.since < q.seq {
				if s, ok := ev.(snapshot); ok && s.target != 0 && s.target != id+1 {
					continue
				}
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		h.mu.Unlock()
		for _, id := range ids {
			h.mu.Lock()
			k := h.hooks[id]
			var (
				out any
				ok  bool
			)
			if k != nil {
				out, ok = deliverable(h.group, k, ev, k.primed)
				if _, snap := ev.(snapshot); ok && snap {
					k.primed = true
				}
			}
			h.mu.Unlock()
			if !ok {
				continue // stopped meanwhile, or not for this hook
			}
			h.c.obs.Delivered(h.c.scheme, eventKind(out), time.Since(q.at))
			k.fn(out)
			n++
		}
	}
}

// eventKind names a delivered event for Observer.Delivered.
func eventKind(ev any) string {
	switch ev.(type) {
	case MemberJoined:
		return "joined"
	case MemberLeft:
		return "left"
	case MemberUpdated:
		return "updated"
	case ElectedAsLeader:
		return "elected"
	case LeadershipLost:
		return "leadership_lost"
	}
	return "members"
}

func kindOf(ev any) hookKind {
	switch ev.(type) {
	case MemberJoined:
		return hookJoin
	case MemberLeft:
		return hookLeave
	case ElectedAsLeader:
		return hookElected
	default:
		return hookLost
	}
}

func (c *Coordinator) watch(ctx context.Context, op, group string, kind hookKind, fn func(any)) (*Watch, error) {
	if err := validate(op, group, "", "", group); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, wrap(err, op, group, "", "")
	}
	h := c.hubFor(group, true)
	if h == nil {
		return nil, wrap(ErrClosed, op, group, "", "")
	}
	w, err := h.add(ctx, kind, fn)
	return w, wrap(err, op, group, "", "")
}

// WatchJoinGroup calls fn for every member that joins group from now on,
// in order, pushed by the backend. The group need not exist yet.
func (c *Coordinator) WatchJoinGroup(ctx context.Context, group string, fn func(MemberJoined)) (*Watch, error) {
	return c.watch(ctx, "watch join", group, hookJoin, func(e any) { fn(e.(MemberJoined)) })
}

// WatchLeaveGroup calls fn for every member that leaves or expires from
// group from now on, in order, pushed by the backend.
func (c *Coordinator) WatchLeaveGroup(ctx context.Context, group string, fn func(MemberLeft)) (*Watch, error) {
	return c.watch(ctx, "watch leave", group, hookLeave, func(e any) { fn(e.(MemberLeft)) })
}

// WatchLeadershipLost calls fn whenever this member stops leading group.
func (c *Coordinator) WatchLeadershipLost(ctx context.Context, group string, fn func(LeadershipLost)) (*Watch, error) {
	return c.watch(ctx, "watch leadership lost", group, hookLost, func(e any) { fn(e.(LeadershipLost)) })
}

// RunWatchers delivers the events queued so far on the caller's goroutine
// and returns how many hook calls it made. It is for coordinators opened
// WithExplicitWatchers; otherwise events are delivered as they arrive and
// RunWatchers returns 0 at once.
func (c *Coordinator) RunWatchers(ctx context.Context) (int, error) {
	if !c.explicit {
		return 0, nil
	}
	c.mu.Lock()
	hubs := make([]*hub, 0, len(c.hubs))
	for _, h := range c.hubs {
		hubs = append(hubs, h)
	}
	c.mu.Unlock()
	sort.Slice(hubs, func(i, j int) bool { return hubs[i].group < hubs[j].group })
	n := 0
	for _, h := range hubs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		n += h.drain()
	}
	for _, w := range c.keyWatchList() {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		n += w.drain()
	}
	return n, nil
}
