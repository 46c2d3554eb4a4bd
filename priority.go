// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// MaxPriority is the highest priority Priority accepts.
const MaxPriority = math.MaxInt32

// ErrInvalidPriority reports a Priority below 0 or above MaxPriority.
var ErrInvalidPriority = errors.New("invalid priority")

// CampaignOption configures Campaign, TryCampaign and Lead.
type CampaignOption func(*campaignOptions)

type campaignOptions struct {
	priority int
	preempt  bool
	ranked   bool // a priority campaign: registered as a candidate
	loop     bool // by a candidacy or Lead, which campaign again after a stand-down (see awaitHandOver)
}

// asLoop marks the campaigns of a candidacy or of Lead.
func asLoop(o *campaignOptions) { o.loop = true }

// Priority makes the campaign a ranked one (the rule of RabbitMQ's
// keep-alive election, where the node with the lowest ID leads, is one
// case): whenever the leadership is free, the live ranked candidate with
// the highest priority wins it, equal priorities first come, first served.
// A ranked candidate is registered (visible through WatchCandidates) for as
// long as it campaigns or leads; it contends only while no other registered
// candidate has a higher priority, so a lower one waiting steps back as a
// higher one arrives. Without Preempt the leader keeps the leadership when
// a higher candidate arrives. p must be between 0 and MaxPriority.
//
// Cost: a ranked campaign joins and later leaves a registry group of the
// election, follows it with the driver's member watch and, when it is the
// last candidate, deletes it, and reads the registry once more when it is
// granted the leadership (a registration its watch has not delivered yet
// still counts): about five round trips more than a plain Campaign on
// every backend, none per heartbeat. Plain campaigns are not
// registered: a ranked candidate does not see them (they count as the
// lowest priority only once they lead), and they cannot be preempted.
func Priority(p int) CampaignOption {
	return func(o *campaignOptions) { o.priority, o.ranked = p, true }
}

// Preempt makes a ranked campaign (priority 0 without Priority) take the
// leadership from a ranked leader of lower priority: that leader stands
// down as soon as it sees this candidate registered (its Lost closes and
// LeadershipLost fires before the backend frees the leadership), and this
// candidate is elected with a greater fencing token.
func Preempt() CampaignOption {
	return func(o *campaignOptions) { o.preempt, o.ranked = true, true }
}

// Candidate is a ranked candidate of an election, as WatchCandidates
// reports it.
type Candidate struct {
	Member   string
	Priority int
	Preempt  bool
}

// candidateRecord is a candidate's capabilities in the registry group.
type candidateRecord struct {
	Priority int  `json:"priority"`
	Preempt  bool `json:"preempt,omitempty"`
}

// registryPrefix starts the names of the groups where ranked candidates
// register. Group names that begin with it are reserved: Groups omits them.
const registryPrefix = "\x00tooz.candidates\x00"

// registryOf is the registry group of group's election: the prefix and
// group, or a hash of group when that would be longer than MaxIDLength.
func registryOf(group string) string {
	if len(registryPrefix)+len(group) <= MaxIDLength {
		return registryPrefix + group
	}
	sum := sha256.Sum256([]byte(group))
	return registryPrefix + "#" + hex.EncodeToString(sum[:])
}

func isRegistry(group string) bool { return strings.HasPrefix(group, registryPrefix) }

// candidates is the view of a registry group that a MemberSink keeps: the
// driver calls it from its watch, a campaign and WatchCandidates read it.
type candidates struct {
	mu       sync.Mutex
	byID     map[string]Candidate
	changed  chan struct{} // closed and replaced on every change
	onChange func()        // also called on every change, if set
}

func newCandidates() *candidates {
	return &candidates{byID: map[string]Candidate{}, changed: make(chan struct{})}
}

func (v *candidates) put(m MemberInfo) {
	var r candidateRecord
	if json.Unmarshal(m.Capabilities, &r) != nil || r.Priority < 0 {
		delete(v.byID, m.ID) // not a candidate's record: never ranked
		return
	}
	v.byID[m.ID] = Candidate{Member: m.ID, Priority: r.Priority, Preempt: r.Preempt}
}

func (v *candidates) bump() {
	close(v.changed)
	v.changed = make(chan struct{})
	if v.onChange != nil {
		v.onChange()
	}
}

// Snapshot implements MemberSink.
func (v *candidates) Snapshot(members []MemberInfo, _ uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	clear(v.byID)
	for _, m := range members {
		v.put(m)
	}
	v.bump()
}

// Joined implements MemberSink.
func (v *candidates) Joined(m MemberInfo, _ uint64) { v.Updated(m, 0) }

// Updated implements MemberSink.
func (v *candidates) Updated(m MemberInfo, _ uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.put(m)
	v.bump()
}

// Left implements MemberSink.
func (v *candidates) Left(member string, _ uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.byID, member)
	v.bump()
}

// above returns a candidate other than self with a priority above p (one
// that also preempts, with preempting), and the channel closed on the next
// change.
func (v *candidates) above(self string, p int, preempting bool) (*Candidate, <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range v.byID {
		if c.Member != self && c.Priority > p && (c.Preempt || !preempting) {
			return &c, v.changed
		}
	}
	return nil, v.changed
}

// list returns the candidates by priority, highest first, then by ID.
func (v *candidates) list() ([]Candidate, <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Candidate, 0, len(v.byID))
	for _, c := range v.byID {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Candidate) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return strings.Compare(a.Member, b.Member)
	})
	return out, v.changed
}

// followCandidates starts following the registry of group's election.
func (c *Coordinator) followCandidates(ctx context.Context, group string, onChange func()) (*candidates, func(), error) {
	mw, ok := c.drv.(MemberWatcher)
	if !ok {
		return nil, nil, fmt.Errorf("%w: ranked elections need a driver whose member watch reports capabilities", ErrNotSupported)
	}
	v := newCandidates()
	v.onChange = onChange
	stop, err := mw.WatchMembers(ctx, registryOf(group), v)
	if err != nil {
		return nil, nil, err
	}
	return v, stop, nil
}

// WatchCandidates calls fn with the ranked candidates of group's election
// (those that campaign or lead with Priority or Preempt), highest priority
// first: once with the current list before it returns, then after every
// change, pushed by the backend's member watch. fn runs on a goroutine of
// the watch (also under WithExplicitWatchers); calls never overlap, and a
// slow fn misses intermediate lists, never the latest one.
func (c *Coordinator) WatchCandidates(ctx context.Context, group string, fn func([]Candidate)) (*Watch, error) {
	const op = "watch candidates"
	if err := validate(op, group, "", "", group); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, wrap(err, op, group, "", "")
	}
	f := newFeed(c)
	v, stop, err := c.followCandidates(ctx, group, f.poke)
	if err != nil {
		return nil, wrap(err, op, group, "", "")
	}
	last, _ := v.list()
	fn(last)
	if !f.start(stop) {
		return nil, wrap(ErrClosed, op, group, "", "")
	}
	go func() {
		defer c.wg.Done()
		defer stop()
		for f.next() {
			if list, _ := v.list(); !slices.Equal(list, last) {
				last = list
				f.call(func() { fn(list) })
			}
		}
	}()
	return &Watch{stop: f.stop}, nil
}

// rankedCampaign registers this member as a candidate of group's election
// with o's priority, contends while no other candidate outranks it, and,
// once elected, stands down for a preempting candidate of higher priority
// and leaves the registry when the leadership ends.
func (c *Coordinator) rankedCampaign(ctx context.Context, group string, wait bool, o campaignOptions) (*Leadership, error) {
	reg := registryOf(group)
	caps, _ := json.Marshal(candidateRecord{Priority: o.priority, Preempt: o.preempt})
	// One ranked campaign of a group per coordinator at a time: a second
	// one (or the next round of Lead) waits until the first one's
	// leadership has ended and it has left the registry.
	slot, err := c.rankedSlot(ctx, group)
	if err != nil {
		return nil, err
	}
	v, stopWatch, err := c.followCandidates(ctx, group, nil)
	if err != nil {
		c.freeRankedSlot(group, slot)
		return nil, err
	}
	registered := false
	done := func() {
		defer c.freeRankedSlot(group, slot)
		stopWatch()
		if registered && c.check() == nil {
			cctx, cancel := cleanupContext(context.Background())
			defer cancel()
			if err := c.LeaveGroup(cctx, reg); err == nil {
				// The last candidate out removes the registry; it fails
				// harmlessly while others are in it.
				_ = c.DeleteGroup(cctx, reg)
			}
		}
	}
	// A candidate that deleted the registry between our join's two steps
	// makes the join fail with ErrGroupNotCreated: create and join again.
	for range 3 {
		err = c.JoinGroupCreate(ctx, reg, caps)
		if !errors.Is(err, ErrGroupNotCreated) {
			break
		}
	}
	if err != nil {
		done()
		return nil, err
	}
	registered = true
	for {
		if err := c.awaitRank(ctx, v, o.priority, wait); err != nil {
			done()
			return nil, err
		}
		// Contend until a higher candidate turns up: then step back and
		// wait for it to go. A grant that came with such a candidate
		// already registered is given back before anyone is told of it.
		actx, cancel := context.WithCancelCause(ctx)
		higher, changed := v.above(c.member, o.priority, false)
		watching := make(chan struct{})
		go func() {
			defer close(watching)
			for higher == nil {
				select {
				case <-actx.Done():
					return
				case <-changed:
				}
				higher, changed = v.above(c.member, o.priority, false)
			}
			cancel(errOutranked)
		}()
		l, err := c.elect(actx, group, wait, o.loop, func() error {
			return c.vetRank(ctx, reg, v, o.priority)
		})
		cancel(nil)
		<-watching
		if err == nil {
			c.leadRanked(l, v, o.priority, done)
			return l, nil
		}
		if ctx.Err() == nil && (errors.Is(err, errOutranked) || errors.Is(context.Cause(actx), errOutranked)) {
			continue
		}
		done()
		return nil, err
	}
}

// vetRank decides whether a grant may stand: not when a candidate of
// higher priority is registered. It reads the registry afresh (one round
// trip), because this candidate's watch may not have delivered a
// registration that completed before the grant; the watch's view is the
// fallback when the read fails.
func (c *Coordinator) vetRank(ctx context.Context, reg string, v *candidates, p int) error {
	rctx, cancel := cleanupContext(ctx)
	defer cancel()
	if ms, err := c.drv.Members(rctx, reg); err == nil {
		now := newCandidates()
		now.Snapshot(ms, 0)
		v = now
	}
	if h, _ := v.above(c.member, p, false); h != nil {
		return fmt.Errorf("%w by %q (priority %d)", errOutranked, h.Member, h.Priority)
	}
	return nil
}

// errOutranked ends a ranked candidate's contention when a candidate of
// higher priority registered.
var errOutranked = errors.New("outranked")

// awaitRank waits until no other registered candidate has a priority above p.
func (c *Coordinator) awaitRank(ctx context.Context, v *candidates, p int, wait bool) error {
	for {
		higher, changed := v.above(c.member, p, false)
		if higher == nil {
			return nil
		}
		if !wait {
			return fmt.Errorf("%w: %w by %q (priority %d)", ErrNotAcquired, errOutranked, higher.Member, higher.Priority)
		}
		select {
		case <-ctx.Done():
			return notAcquired(ctx, ctx.Err())
		case <-c.closing:
			return ErrClosed
		case <-changed:
		}
	}
}

// leadRanked follows the registry while l lasts: a preempting candidate of
// higher priority makes l stand down, Lost closing before the backend
// frees the leadership. done runs when l has ended.
func (c *Coordinator) leadRanked(l *Leadership, v *candidates, p int, done func()) {
	if !c.enter() {
		done()
		return
	}
	go func() {
		defer c.wg.Done()
		defer done()
		for {
			higher, changed := v.above(c.member, p, true)
			if higher != nil {
				c.log.Info("tooz: standing down for a preempting candidate", "group", l.group, "candidate", higher.Member, "priority", higher.Priority)
				l.standDown(context.Background())
				l.h.releasing.Store(true)
				l.h.end(nil, true)
				return
			}
			select {
			case <-l.Lost():
				return
			case <-c.closing:
				return
			case <-changed:
			}
		}
	}()
}

// rankedSlot waits until no other ranked campaign of this coordinator for
// group runs, and takes the slot.
func (c *Coordinator) rankedSlot(ctx context.Context, group string) (chan struct{}, error) {
	for {
		c.mu.Lock()
		busy, ok := c.ranked[group]
		if !ok {
			slot := make(chan struct{})
			c.ranked[group] = slot
			c.mu.Unlock()
			return slot, nil
		}
		c.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, notAcquired(ctx, ctx.Err())
		case <-c.closing:
			return nil, ErrClosed
		}
	}
}

func (c *Coordinator) freeRankedSlot(group string, slot chan struct{}) {
	c.mu.Lock()
	if c.ranked[group] == slot {
		delete(c.ranked, group)
	}
	c.mu.Unlock()
	close(slot)
}
