// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
)

// MemberUpdated is delivered to WatchUpdateGroup hooks when a member's
// capabilities change. Capabilities are the new ones.
type MemberUpdated struct {
	Group        string
	Member       string
	Capabilities []byte
}

// MembershipEventKind says what a MembershipEvent reports.
type MembershipEventKind int

// The kinds of MembershipEvent.
const (
	// MembershipSnapshot carries the complete member list in Members.
	MembershipSnapshot MembershipEventKind = iota + 1
	// MembershipJoined reports a member that joined, with its capabilities.
	MembershipJoined
	// MembershipUpdated reports a member whose capabilities changed.
	MembershipUpdated
	// MembershipLeft reports a member that left or expired.
	MembershipLeft
)

func (k MembershipEventKind) String() string {
	switch k {
	case MembershipSnapshot:
		return "snapshot"
	case MembershipJoined:
		return "joined"
	case MembershipUpdated:
		return "updated"
	case MembershipLeft:
		return "left"
	}
	return fmt.Sprintf("MembershipEventKind(%d)", int(k))
}

// MembershipEvent is one delivery of a WatchMembers hook: first a snapshot
// of the whole group, then every change after it, in order, each once.
// Applying the changes to the snapshot gives the group as the backend has it.
type MembershipEvent struct {
	Kind  MembershipEventKind
	Group string
	// Member is the member that joined or was updated (ID, Capabilities
	// and, where the driver reports them, JoinedAt and UpdatedAt), or the
	// ID of the member that left. Zero for a snapshot.
	Member MemberInfo
	// Members is the complete member list, sorted by ID, for a snapshot.
	Members []MemberInfo
	// Revision is the backend revision or index the event is as of (etcd
	// revision, Consul index, ZooKeeper zxid) where the driver reports one;
	// 0 otherwise.
	Revision uint64
	// Resync marks a snapshot that is not the hook's first: the hook fell
	// so far behind that the changes it had not yet received were replaced
	// by the group's current state (see MaxQueuedEvents). The snapshot
	// replaces everything the hook knew; changes follow it as usual.
	Resync bool
}

// String describes the event in one line, for logs.
func (e MembershipEvent) String() string {
	if e.Kind == MembershipSnapshot {
		ids := make([]string, len(e.Members))
		for i, m := range e.Members {
			ids[i] = m.ID
		}
		return fmt.Sprintf("%s %s [%s]", e.Group, e.Kind, strings.Join(ids, " "))
	}
	return fmt.Sprintf("%s %s %s", e.Group, e.Kind, e.Member.ID)
}

// MaxQueuedEvents bounds how many membership changes a group's hooks may
// have waiting (beyond one per member) while a hook is slow or RunWatchers
// is not called. Past it the waiting changes are replaced by the group's
// current state: WatchMembers hooks get a snapshot marked Resync, join,
// leave and update hooks get the difference between what they were last
// told and the current state (intermediate changes are folded). Leadership
// events are never dropped.
const MaxQueuedEvents = 4096

// MemberSink receives a driver's view of one group's membership, with
// capabilities. The driver calls it from one goroutine at a time, in the
// order the backend changed; its methods return quickly and never call
// back into the driver. rev is the backend revision or index of the change
// where the driver knows one, else 0. The sink keeps no reference to the
// capabilities it is given.
type MemberSink interface {
	// Snapshot reports the complete member list as of one backend
	// revision: once before WatchMembers returns, and again whenever the
	// driver lost track of changes (compaction, reconnect) and listed the
	// group anew. The Coordinator turns the difference into events.
	Snapshot(members []MemberInfo, rev uint64)
	// Joined reports a member that joined after the last listing.
	Joined(m MemberInfo, rev uint64)
	// Updated reports a member whose capabilities were set after the last
	// listing. Reporting the capabilities it already had is harmless.
	Updated(m MemberInfo, rev uint64)
	// Left reports a member that left or expired after the last listing.
	Left(member string, rev uint64)
}

// MemberWatcher is implemented by drivers whose group watch reports
// capabilities and capability updates. Without it, WatchMembers and
// WatchUpdateGroup fail with ErrNotSupported and join and leave hooks use
// CoordinationDriver.WatchGroup.
type MemberWatcher interface {
	// WatchMembers is WatchGroup with capabilities: it calls sink.Snapshot
	// before it returns (an empty list for a group that does not exist),
	// then reports every change after that snapshot, updates included.
	WatchMembers(ctx context.Context, group string, sink MemberSink) (stop func(), err error)
}

// WatchMembers calls fn first with a snapshot of group's members (with
// capabilities, as of one backend revision), then with every join, update
// and leave after it, in order, each once, pushed by the backend. The group
// need not exist yet (the snapshot is then empty). It fails with
// ErrNotSupported when the driver's watch cannot report capabilities.
func (c *Coordinator) WatchMembers(ctx context.Context, group string, fn func(MembershipEvent)) (*Watch, error) {
	return c.watch(ctx, "watch members", group, hookMembers, func(e any) { fn(e.(MembershipEvent)) })
}

// WatchUpdateGroup calls fn for every change of a member's capabilities in
// group from now on, in order with joins and leaves, pushed by the backend.
// It fails with ErrNotSupported when the driver's watch cannot report updates.
func (c *Coordinator) WatchUpdateGroup(ctx context.Context, group string, fn func(MemberUpdated)) (*Watch, error) {
	return c.watch(ctx, "watch update", group, hookUpdate, func(e any) { fn(e.(MemberUpdated)) })
}

// change is one membership change queued for the hooks.
type change struct {
	kind   MembershipEventKind // joined, updated or left
	info   MemberInfo
	rev    uint64
	folded bool // part of the difference that replaced dropped changes: not for WatchMembers hooks
}

// snapshot is a member list queued for WatchMembers hooks: for one new
// hook (target: its ID + 1), or for all after changes were folded.
type snapshot struct {
	members []MemberInfo // sorted by ID
	rev     uint64
	target  uint64
}

// memberSink is the hub seen as a MemberSink.
type memberSink struct{ h *hub }

func (s memberSink) Snapshot(members []MemberInfo, rev uint64) { s.h.snapshot(members, rev) }
func (s memberSink) Joined(m MemberInfo, rev uint64)           { s.h.joined(m, rev) }
func (s memberSink) Updated(m MemberInfo, rev uint64)          { s.h.updated(m, rev) }
func (s memberSink) Left(member string, rev uint64)            { s.h.left(member, rev) }

func cloneInfo(m MemberInfo) MemberInfo {
	m.Capabilities = bytes.Clone(m.Capabilities)
	return m
}

func (h *hub) noteRev(rev uint64) {
	if rev > h.rev {
		h.rev = rev
	}
}

// snapshot replaces the known membership with members, queueing the
// difference: leaves, joins, then updates.
func (h *hub) snapshot(members []MemberInfo, rev uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.noteRev(rev)
	next := make(map[string]MemberInfo, len(members))
	for _, m := range members {
		next[m.ID] = cloneInfo(m)
	}
	old := h.members
	h.members = next
	if !h.baselined {
		h.given = make(map[string]MemberInfo, len(next))
		for id, m := range next {
			h.given[id] = m
		}
		h.baselined = true
		return
	}
	chs := diff(old, next)
	for i := range chs {
		chs[i].rev = h.rev
	}
	h.enqueueChangesLocked(chs...)
}

// diff lists the changes that turn from into to: leaves by ID, joins in
// the order they joined, updates by ID. A member whose join time changed
// left and joined again in between.
func diff(from, to map[string]MemberInfo) []change {
	var gone, came, changed []string
	for id, old := range from {
		if m, ok := to[id]; !ok || rejoined(old, m) {
			gone = append(gone, id)
		}
	}
	for id, m := range to {
		old, ok := from[id]
		switch {
		case !ok, rejoined(old, m):
			came = append(came, id)
		case !bytes.Equal(old.Capabilities, m.Capabilities):
			changed = append(changed, id)
		}
	}
	sort.Strings(gone)
	slices.SortFunc(came, func(a, b string) int {
		if c := to[a].JoinedAt.Compare(to[b].JoinedAt); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	sort.Strings(changed)
	out := make([]change, 0, len(gone)+len(came)+len(changed))
	for _, id := range gone {
		out = append(out, change{kind: MembershipLeft, info: MemberInfo{ID: id}})
	}
	for _, id := range came {
		out = append(out, change{kind: MembershipJoined, info: to[id]})
	}
	for _, id := range changed {
		out = append(out, change{kind: MembershipUpdated, info: to[id]})
	}
	return out
}

// rejoined reports whether two listings of a member show two memberships:
// another incarnation, or another join time.
func rejoined(old, m MemberInfo) bool {
	if old.Incarnation != "" && m.Incarnation != "" && old.Incarnation != m.Incarnation {
		return true
	}
	return !old.JoinedAt.IsZero() && !m.JoinedAt.IsZero() && !old.JoinedAt.Equal(m.JoinedAt)
}

func (h *hub) joined(m MemberInfo, rev uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.joinedLocked(cloneInfo(m), rev)
}

// joinedLocked records m; a member already known is an update at most.
func (h *hub) joinedLocked(m MemberInfo, rev uint64) {
	h.noteRev(rev)
	if h.members == nil {
		h.members = map[string]MemberInfo{}
	}
	if old, ok := h.members[m.ID]; ok {
		if rejoined(old, m) { // its leave was folded away: report it
			h.members[m.ID] = m
			h.enqueueChangesLocked(
				change{kind: MembershipLeft, info: MemberInfo{ID: m.ID}, rev: h.rev},
				change{kind: MembershipJoined, info: m, rev: h.rev})
			return
		}
		if bytes.Equal(old.Capabilities, m.Capabilities) {
			return
		}
		h.members[m.ID] = m
		h.enqueueChangeLocked(change{kind: MembershipUpdated, info: m, rev: h.rev})
		return
	}
	h.members[m.ID] = m
	h.enqueueChangeLocked(change{kind: MembershipJoined, info: m, rev: h.rev})
}

// updated records new capabilities; equal ones are no event, and an
// update of a member not known (its join was folded) is its join.
func (h *hub) updated(m MemberInfo, rev uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m = cloneInfo(m)
	h.noteRev(rev)
	old, ok := h.members[m.ID]
	if !ok || rejoined(old, m) {
		h.joinedLocked(m, rev)
		return
	}
	if bytes.Equal(old.Capabilities, m.Capabilities) {
		return
	}
	if m.JoinedAt.IsZero() {
		m.JoinedAt = old.JoinedAt
	}
	h.members[m.ID] = m
	h.enqueueChangeLocked(change{kind: MembershipUpdated, info: m, rev: h.rev})
}

func (h *hub) left(member string, rev uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.noteRev(rev)
	if _, ok := h.members[member]; !ok {
		return
	}
	delete(h.members, member)
	h.enqueueChangeLocked(change{kind: MembershipLeft, info: MemberInfo{ID: member}, rev: h.rev})
}

// enqueueChangeLocked queues ch, a change h.members already holds; when
// too many changes are waiting, it replaces them all, ch included, by the
// current state instead, and reports that it did.
func (h *hub) enqueueChangeLocked(ch change) (folded bool) {
	if h.closed && h.c.explicit {
		return false
	}
	if h.queuedChanges >= MaxQueuedEvents+2*(len(h.members)+len(h.given)) {
		h.foldLocked()
		return true
	}
	h.queuedChanges++
	h.enqueueLocked(ch)
	return false
}

// enqueueChangesLocked queues chs, changes h.members already holds, in
// order; once they are folded into the current state, the rest are too.
func (h *hub) enqueueChangesLocked(chs ...change) {
	for _, ch := range chs {
		if h.enqueueChangeLocked(ch) {
			return
		}
	}
}

// foldLocked drops every queued membership change and snapshot and queues
// instead the difference from what the hooks were last given to the
// current state (for join, leave and update hooks) and a snapshot of the
// current state (for WatchMembers hooks).
func (h *hub) foldLocked() {
	kept := h.queue[:0]
	for _, q := range h.queue {
		switch q.ev.(type) {
		case change, snapshot:
			continue
		}
		kept = append(kept, q)
	}
	clear(h.queue[len(kept):])
	h.queue = kept
	h.queuedChanges = 0
	for _, d := range diff(h.given, h.members) {
		d.folded = true
		d.rev = h.rev
		h.queuedChanges++
		h.enqueueLocked(d)
	}
	h.queuedChanges++
	h.enqueueLocked(snapshot{members: h.sortedMembers(), rev: h.rev})
	h.c.log.Warn("tooz: a group's hooks fell too far behind; queued membership changes were replaced by the current state",
		"group", h.group, "limit", MaxQueuedEvents)
}

// give records, as a change is taken off the queue, what the hooks have
// been given. Called with h.mu held.
func (h *hub) give(ch change) {
	if h.given == nil {
		h.given = map[string]MemberInfo{}
	}
	if ch.kind == MembershipLeft {
		delete(h.given, ch.info.ID)
	} else {
		h.given[ch.info.ID] = ch.info
	}
}

func (h *hub) sortedMembers() []MemberInfo {
	out := make([]MemberInfo, 0, len(h.members))
	for _, m := range h.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// deliverable converts queue entry ev for a hook of kind k; ok is false
// when the hook does not take it.
func deliverable(group string, k *hook, ev any, resync bool) (any, bool) {
	switch e := ev.(type) {
	case change:
		switch k.kind {
		case hookMembers:
			if e.folded {
				return nil, false
			}
			return MembershipEvent{Kind: e.kind, Group: group, Member: cloneInfo(e.info), Revision: e.rev}, true
		case hookJoin:
			return MemberJoined{Group: group, Member: e.info.ID}, e.kind == MembershipJoined
		case hookLeave:
			return MemberLeft{Group: group, Member: e.info.ID}, e.kind == MembershipLeft
		case hookUpdate:
			return MemberUpdated{Group: group, Member: e.info.ID, Capabilities: bytes.Clone(e.info.Capabilities)}, e.kind == MembershipUpdated
		}
		return nil, false
	case snapshot:
		if k.kind != hookMembers {
			return nil, false
		}
		ms := make([]MemberInfo, len(e.members))
		for i, m := range e.members {
			ms[i] = cloneInfo(m)
		}
		return MembershipEvent{Kind: MembershipSnapshot, Group: group, Members: ms, Revision: e.rev, Resync: resync}, true
	}
	kind := kindOf(ev)
	return ev, k.kind == kind
}

// Logger returns the logger the coordinator and its driver write to (the
// one given WithLogger, slog.Default() otherwise), with the scheme and
// member as attributes, for recipes built on the coordinator.
func (c *Coordinator) Logger() *slog.Logger { return c.log }
