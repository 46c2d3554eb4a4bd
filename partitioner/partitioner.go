// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toozgo/tooz"
)

// DefaultSoak is the soak period of WithRebalance when none is given.
const DefaultSoak = 5 * time.Second

// Option configures New.
type Option func(*config)

type config struct {
	weight      int
	ppw         int
	join        bool
	replicas    int
	soak        time.Duration
	items       func() []string
	onRebalance func(Rebalance)
	log         *slog.Logger
	workPrefix  *string // WithWorkPrefix (work.go)
	storeKey    string  // WithAssignmentKey (work.go)
}

// WithWeight sets this member's weight (1..MaxWeight, default 1): a member
// of weight 2 gets twice the keys of a member of weight 1. It is advertised
// in the member's capabilities (see Capabilities), which the other members
// read when it joins. SetWeight changes it later; every member applies the
// change when its update event arrives.
func WithWeight(w int) Option { return func(c *config) { c.weight = w } }

// WithPointsPerWeight sets the ring's points per unit of weight (default
// DefaultPointsPerWeight). Every member must use the same value, or they
// will disagree on owners.
func WithPointsPerWeight(n int) Option { return func(c *config) { c.ppw = n } }

// WithoutJoin makes the Partitioner follow the group without joining it:
// for a coordinator that hands out work but takes none. BelongsToSelf is
// then false unless the member joined the group by other means.
func WithoutJoin() Option { return func(c *config) { c.join = false } }

// WithReplicas sets how many members each key belongs to for BelongsTo,
// BelongsToSelf and rebalancing (default 1).
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// WithRebalance asks for fn to be called each time membership has been
// stable for soak (DefaultSoak when soak <= 0) after a change, with the
// assignment of the work items that items returns (called then, so the set
// may change over time; items may be nil) before and after the change.
// Several changes within the soak period give one call; a change undone
// within it (a member leaving and coming back with the same weight) gives
// none. The first call comes once the initial membership has been stable
// for soak, with Initial set and an empty Old assignment.
//
// Calls are made one at a time on a goroutine of the Partitioner's;
// membership keeps being followed while fn runs.
func WithRebalance(soak time.Duration, items func() []string, fn func(Rebalance)) Option {
	return func(c *config) {
		if soak <= 0 {
			soak = DefaultSoak
		}
		c.soak, c.items, c.onRebalance = soak, items, fn
	}
}

// WithLogger sends the Partitioner's log lines to l (default: the
// coordinator's logger, tooz.Coordinator.Logger).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// Assignment maps each member to the work items that belong to it.
type Assignment map[string][]string

// Rebalance describes a settled change of membership or of the work items.
type Rebalance struct {
	// Initial is set on the first call when no earlier assignment is
	// known: Old is empty. With WithAssignmentKey, a first call that finds
	// a stored assignment is not Initial, and Old is that assignment.
	Initial bool
	// Members is the settled membership, sorted.
	Members []string
	// Old is the assignment of the previous call (or the stored one), New
	// the assignment of the current items under the current membership,
	// each member's items in the order items returned them.
	Old, New Assignment
	// Added and Removed hold, per member, the items it gains and the items
	// it loses (members with none are absent).
	Added, Removed Assignment
}

// Partitioner assigns keys to the members of a group. Its methods are safe
// for concurrent use; lookups never block on membership changes.
type Partitioner struct {
	c        *tooz.Coordinator
	group    string
	self     string
	replicas int
	joined   bool // New joined the group: Stop leaves it
	log      *slog.Logger
	ring     *HashRing
	cfg      config

	ctx    context.Context // ends at Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // run and fetch goroutines

	mu      sync.Mutex
	queue   []memberEvent // pushed by the hooks, drained by run
	watches []*tooz.Watch
	wake    chan struct{} // run: the queue has events
	results chan fetched  // run: a member's weight is known
	// fetchSlots holds a token per capability read in flight.
	fetchSlots chan struct{}

	changed chan struct{} // soak loop: the ring or the items changed
	stopped atomic.Bool

	inRebalance atomic.Bool    // the rebalance function runs (Stop may be called from it)
	storing     sync.WaitGroup // a rebalance and the store of its assignment (Add under mu, before Stop)

	work     map[string]struct{} // WithWorkPrefix: the items, as watched; guarded by mu
	storeRev uint64              // WithAssignmentKey: the revision last read or written (soak loop only)
	stored   []byte              // WithAssignmentKey: the value at storeRev (soak loop only)
}

type memberEvent struct {
	member string
	joined bool
}

type fetched struct {
	member string
	gen    uint64
	weight int
}

// member is run's record of one member.
type member struct {
	gen    uint64 // bumped on every join event
	weight int    // 0 while the capabilities are being read
	cancel context.CancelFunc
}

// New follows group's membership on c and, unless WithoutJoin is given,
// joins group (creating it if needed) with capabilities carrying its
// weight. If c's member already belongs to group, New keeps that
// membership and its capabilities, and Stop does not leave.
//
// When New returns, the Partitioner knows the members the group had when
// it listed them; changes since then follow as their events arrive.
// Call Stop when done, before closing c. On a coordinator opened
// WithExplicitWatchers, membership changes reach the Partitioner only while
// the application calls RunWatchers.
func New(ctx context.Context, c *tooz.Coordinator, group string, opts ...Option) (*Partitioner, error) {
	cfg := config{weight: 1, join: true, replicas: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if err := checkWeight(c.MemberID(), cfg.weight); err != nil {
		return nil, err
	}
	if cfg.replicas < 1 {
		return nil, fmt.Errorf("partitioner: replicas %d, want at least 1", cfg.replicas)
	}
	var log *slog.Logger
	if cfg.log == nil {
		log = c.Logger().With("tooz.group", group) // it names the member already
	} else {
		log = cfg.log.With("tooz.group", group, "tooz.member", c.MemberID())
	}
	if err := cfg.checkWork(); err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &Partitioner{
		c:          c,
		group:      group,
		self:       c.MemberID(),
		replicas:   cfg.replicas,
		log:        log,
		ring:       NewHashRing(cfg.ppw),
		cfg:        cfg,
		ctx:        pctx,
		cancel:     cancel,
		wake:       make(chan struct{}, 1),
		results:    make(chan fetched),
		fetchSlots: make(chan struct{}, fetchConcurrency),
		changed:    make(chan struct{}, 1),
	}
	err := p.watchWork(ctx)
	if err == nil {
		err = p.start(ctx)
	}
	if err != nil {
		p.stopWatches()
		cancel()
		if p.joined {
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = c.LeaveGroup(cctx, group)
			ccancel()
		}
		return nil, err
	}
	return p, nil
}

func (p *Partitioner) start(ctx context.Context) error {
	if _, ok := p.c.Driver().(tooz.MemberWatcher); ok {
		return p.startMembers(ctx)
	}
	// Without a member stream (a driver without tooz.MemberWatcher):
	// watch before listing, so that no change falls between the two.
	lw, err := p.c.WatchLeaveGroup(ctx, p.group, func(e tooz.MemberLeft) { p.push(e.Member, false) })
	if err != nil {
		return err
	}
	p.watches = append(p.watches, lw)
	jw, err := p.c.WatchJoinGroup(ctx, p.group, func(e tooz.MemberJoined) { p.push(e.Member, true) })
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.watches = append(p.watches, jw)
	// Until both hooks were in place, one kind of event could be missed:
	// forget those, the listing below is newer than all of them.
	p.queue = nil
	p.mu.Unlock()

	if err := p.joinGroup(ctx); err != nil {
		return err
	}
	infos, err := p.c.MembersInfo(ctx, p.group)
	if err != nil && !errors.Is(err, tooz.ErrGroupNotCreated) {
		return err
	}

	// The events that arrived since both hooks were in place report, in
	// order, every change since then. For a member they mention, they
	// decide: if the listing saw a later state than their last word, the
	// change to it has an event still on its way. One exception saves a
	// read: a single join event for a member the listing shows is that
	// same membership, whose capabilities the listing holds.
	type window struct {
		n      int  // events about the member
		joined bool // the first one is a join
	}
	members := map[string]*member{}
	p.mu.Lock()
	seen := map[string]*window{}
	for _, e := range p.queue {
		if w := seen[e.member]; w != nil {
			w.n++
		} else {
			seen[e.member] = &window{1, e.joined}
		}
	}
	for _, info := range infos {
		if w := seen[info.ID]; w != nil {
			if w.n > 1 || !w.joined {
				continue
			}
			p.queue = slices.DeleteFunc(p.queue, func(e memberEvent) bool { return e.member == info.ID })
		}
		members[info.ID] = &member{weight: p.weightOf(info.ID, info.Capabilities)}
	}
	p.mu.Unlock()
	p.publish(members)

	p.wg.Add(1)
	go p.run(members)
	p.signal(p.wake)
	if p.cfg.onRebalance != nil {
		p.signal(p.changed) // the initial membership is a change
		go p.soakLoop()
	}
	return nil
}

// push queues a membership event from a hook, in the order delivered.
func (p *Partitioner) push(m string, joined bool) {
	p.mu.Lock()
	p.queue = append(p.queue, memberEvent{m, joined})
	p.mu.Unlock()
	p.signal(p.wake)
}

func (p *Partitioner) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// weightOf returns the weight m's capabilities advertise, or 1 with a log line.
func (p *Partitioner) weightOf(m string, caps []byte) int {
	w, err := WeightOf(caps)
	if err != nil {
		p.log.Warn("partitioner: counting member with weight 1", "member", m, "err", err)
		return 1
	}
	return w
}

// run applies membership events and capability reads to the ring, one
// batch at a time, until Stop.
func (p *Partitioner) run(members map[string]*member) {
	defer p.wg.Done()
	var gen uint64
	for {
		dirty := false
		select {
		case <-p.ctx.Done():
			for _, m := range members {
				if m.cancel != nil {
					m.cancel()
				}
			}
			return
		case <-p.wake:
		case r := <-p.results:
			dirty = p.applyFetched(members, r) || dirty
		}
		for {
			p.mu.Lock()
			evs := p.queue
			p.queue = nil
			p.mu.Unlock()
			if len(evs) == 0 {
				break
			}
			for _, e := range evs {
				m := members[e.member]
				if !e.joined {
					if m != nil {
						if m.cancel != nil {
							m.cancel()
						}
						delete(members, e.member)
						dirty = true
					}
					continue
				}
				// A join: read the member's capabilities for its weight.
				// Until then the member is not on the ring (a rejoin keeps
				// its previous weight meanwhile).
				if m == nil {
					m = &member{}
					members[e.member] = m
				}
				if m.cancel != nil {
					m.cancel()
				}
				gen++
				m.gen = gen
				fctx, cancel := context.WithCancel(p.ctx)
				m.cancel = cancel
				p.wg.Add(1)
				go p.fetch(fctx, e.member, gen)
			}
		}
	drain:
		for {
			select {
			case r := <-p.results:
				dirty = p.applyFetched(members, r) || dirty
			default:
				break drain
			}
		}
		if dirty {
			p.publish(members)
		}
	}
}

func (p *Partitioner) applyFetched(members map[string]*member, r fetched) bool {
	m := members[r.member]
	if m == nil || m.gen != r.gen {
		return false // left or joined again meanwhile
	}
	m.cancel()
	m.cancel = nil
	changed := m.weight != r.weight
	m.weight = r.weight
	return changed
}

// publish puts the members whose weight is known on the ring.
func (p *Partitioner) publish(members map[string]*member) {
	nodes := make(map[string]int, len(members))
	for id, m := range members {
		if m.weight > 0 {
			nodes[id] = m.weight
		}
	}
	p.publishNodes(nodes)
}

// publishNodes puts nodes (member → weight) on the ring, if they changed.
func (p *Partitioner) publishNodes(nodes map[string]int) {
	if p.ring.snapshot().sameNodes(nodes) {
		return
	}
	if err := p.ring.Set(nodes); err != nil {
		// Weights are checked by WeightOf; only a ring beyond 2³² points gets here.
		p.log.Error("partitioner: cannot rebuild the ring; keeping the previous one", "err", err)
		return
	}
	p.signal(p.changed)
}

// fetchConcurrency bounds a Partitioner's capability reads in flight, so
// that a burst of joins does not flood the backend.
const fetchConcurrency = 8

// fetch reads member m's capabilities until it succeeds or ctx ends (the
// member left, joined again, or Stop). A member that is not (yet) visible
// is retried too: its leave event, if it left, cancels ctx.
func (p *Partitioner) fetch(ctx context.Context, m string, gen uint64) {
	defer p.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		select {
		case p.fetchSlots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		info, err := p.c.MemberInfo(ctx, p.group, m)
		<-p.fetchSlots
		if err == nil {
			select {
			case p.results <- fetched{m, gen, p.weightOf(m, info.Capabilities)}:
			case <-ctx.Done():
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, tooz.ErrClosed) {
			p.log.Warn("partitioner: coordinator closed; cannot read a new member's weight", "member", m)
			return
		}
		if !errors.Is(err, tooz.ErrMemberNotJoined) && !errors.Is(err, tooz.ErrGroupNotCreated) {
			p.log.Warn("partitioner: cannot read a new member's capabilities; retrying", "member", m, "err", err, "retry_in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// soakLoop calls the rebalance callback once the ring and the items have
// not changed for the soak period, until Stop.
func (p *Partitioner) soakLoop() {
	var (
		last      *ring      // the ring of the previous call; nil before the first
		lastItems []string   // the items of the previous call, sorted
		old       Assignment // the assignment of the previous call, or the stored one
	)
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.changed:
		}
		t := time.NewTimer(p.cfg.soak)
	soak:
		for {
			select {
			case <-p.ctx.Done():
				t.Stop()
				return
			case <-p.changed:
				t.Reset(p.cfg.soak)
			case <-t.C:
				break soak
			}
		}
		cur := p.ring.snapshot()
		items := p.currentItems()
		sorted := slices.Clone(items)
		slices.Sort(sorted)
		sorted = slices.Compact(sorted)
		if last != nil && last.equal(cur) && slices.Equal(sorted, lastItems) {
			continue // changes undone within the soak period
		}
		if last == nil && p.cfg.storeKey != "" {
			old = p.loadAssignment()
		}
		rb := rebalance(old, cur, items, p.replicas)
		p.mu.Lock() // Stop sets stopped, then takes mu, then waits for storing
		if p.stopped.Load() {
			p.mu.Unlock()
			return
		}
		p.storing.Add(1)
		p.inRebalance.Store(true)
		p.mu.Unlock()
		p.cfg.onRebalance(rb)
		p.inRebalance.Store(false)
		if p.cfg.storeKey != "" {
			p.storeAssignment(rb.New)
		}
		p.storing.Done()
		last, lastItems, old = cur, sorted, rb.New
	}
}

// rebalance assigns items under cur and compares the result with old
// (nil: no earlier assignment).
func rebalance(old Assignment, cur *ring, items []string, replicas int) Rebalance {
	rb := Rebalance{
		Initial: old == nil,
		Members: slices.Clone(cur.names),
		Old:     Assignment{},
		New:     Assignment{},
		Added:   Assignment{},
		Removed: Assignment{},
	}
	for m, its := range old {
		rb.Old[m] = slices.Clone(its)
	}
	seen := make(map[string]struct{}, len(items))
	for _, it := range items {
		if _, dup := seen[it]; dup {
			continue
		}
		seen[it] = struct{}{}
		for _, m := range cur.get(keyHash(it), replicas, nil) {
			rb.New[m] = append(rb.New[m], it)
		}
	}
	for m, its := range rb.New {
		was := setOf(rb.Old[m])
		for _, it := range its {
			if _, ok := was[it]; !ok {
				rb.Added[m] = append(rb.Added[m], it)
			}
		}
	}
	for m, its := range rb.Old {
		now := setOf(rb.New[m])
		for _, it := range its {
			if _, ok := now[it]; !ok {
				rb.Removed[m] = append(rb.Removed[m], it)
			}
		}
	}
	return rb
}

func setOf(items []string) map[string]struct{} {
	m := make(map[string]struct{}, len(items))
	for _, it := range items {
		m[it] = struct{}{}
	}
	return m
}

// MembersFor returns the members key belongs to: up to replicas distinct
// members, the owner first, in ring order.
func (p *Partitioner) MembersFor(key string, replicas int) []string {
	return p.ring.Get(key, replicas)
}

// BelongsTo reports whether key belongs to member (among the first
// WithReplicas members for key).
func (p *Partitioner) BelongsTo(key, member string) bool {
	if p.replicas == 1 {
		o, ok := p.ring.Owner(key)
		return ok && o == member
	}
	return slices.Contains(p.ring.Get(key, p.replicas), member)
}

// BelongsToSelf reports whether key belongs to this member.
func (p *Partitioner) BelongsToSelf(key string) bool { return p.BelongsTo(key, p.self) }

// Members returns the members on the ring, sorted: the group's members
// whose weight is known.
func (p *Partitioner) Members() []string { return p.ring.Nodes() }

// Weight returns member's weight on the ring, and whether it is on it.
func (p *Partitioner) Weight(member string) (int, bool) { return p.ring.Weight(member) }

// Stop unregisters the Partitioner's hooks, ends its goroutines and, if New
// joined the group, leaves it (on ctx). No rebalance call starts after Stop
// returns; one already running is not waited for, so Stop may be called
// from within it (a rebalance whose function has returned is waited for
// while it stores its assignment, see WithAssignmentKey). Lookups keep answering from the last membership. Stop is
// safe to call twice.
func (p *Partitioner) Stop(ctx context.Context) error {
	if !p.stopped.CompareAndSwap(false, true) {
		return nil
	}
	p.stopWatches()
	p.cancel()
	p.wg.Wait()
	p.mu.Lock() // no rebalance starts after this (stopped is set)
	running := p.inRebalance.Load()
	p.mu.Unlock()
	if !running {
		// A rebalance whose function returned is storing its assignment
		// (WithAssignmentKey): let it, so that whoever rebalances next
		// starts from it. From within the function, nothing is waited for.
		p.storing.Wait()
	}
	if !p.joined {
		return nil
	}
	err := p.c.LeaveGroup(ctx, p.group)
	if errors.Is(err, tooz.ErrMemberNotJoined) || errors.Is(err, tooz.ErrGroupNotCreated) || errors.Is(err, tooz.ErrClosed) {
		return nil // gone already
	}
	return err
}

func (p *Partitioner) stopWatches() {
	p.mu.Lock()
	ws := p.watches
	p.watches = nil
	p.mu.Unlock()
	for _, w := range ws {
		w.Stop()
	}
}
