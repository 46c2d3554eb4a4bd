// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/membersink"
)

// notifier is the process's one inotify instance (through fsnotify),
// shared by every coordinator of the process: it watches directories for
// as long as a subscriber wants them and hands each subscriber the events
// it asked for, in the order the kernel reported them.
type notifier struct {
	mu    sync.Mutex
	users int
	gen   uint64 // counts watcher instances; subscriptions of an old one are void
	w     *fsnotify.Watcher
	log   *slog.Logger
	dirs  map[string]*watchedDir
	done  chan struct{}
}

type watchedDir struct {
	added bool // an inotify watch is in place
	keep  bool // a namespace's fixed directory: stays watched without subscribers
	subs  map[*sub]struct{}
}

var procNotifier notifier

// acquireNotifier returns the process's notifier, starting it for its first user.
func acquireNotifier(log *slog.Logger) *notifier {
	n := &procNotifier
	n.mu.Lock()
	defer n.mu.Unlock()
	n.users++
	if n.users == 1 {
		n.gen++
		n.log = log
		n.dirs = map[string]*watchedDir{}
		w, err := fsnotify.NewBufferedWatcher(4096)
		if err != nil {
			log.Warn("tooz file: inotify unavailable; watchers and lock waiters poll", "interval", fallbackPoll, "err", err)
			return n
		}
		n.w, n.done = w, make(chan struct{})
		go n.loop(w, n.done)
	}
	return n
}

// release ends one user's use; the last one stops the watcher.
func (n *notifier) release() {
	n.mu.Lock()
	n.users--
	if n.users > 0 {
		n.mu.Unlock()
		return
	}
	w, done := n.w, n.done
	n.w, n.done, n.dirs = nil, nil, nil
	n.gen++
	n.mu.Unlock()
	if w != nil {
		_ = w.Close()
		<-done
	}
}

func (n *notifier) loop(w *fsnotify.Watcher, done chan struct{}) {
	defer close(done)
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			n.dispatch(ev)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			n.mu.Lock()
			log := n.log
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were dropped: every subscriber must re-read.
				for _, wd := range n.dirs {
					for s := range wd.subs {
						s.lostTrack()
					}
				}
			}
			n.mu.Unlock()
			if log != nil {
				log.Warn("tooz file: inotify error; watchers re-list", "err", err)
			}
		}
	}
}

func (n *notifier) dispatch(ev fsnotify.Event) {
	dir, name := filepath.Dir(ev.Name), filepath.Base(ev.Name)
	n.mu.Lock()
	defer n.mu.Unlock()
	if wd := n.dirs[ev.Name]; wd != nil && ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
		wd.added = false // the watched directory itself went: inotify dropped its watch
	}
	if wd := n.dirs[dir]; wd != nil {
		if ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
			procVerdicts.forget(sessionKey{dir, name}) // a session file removed is dead for good
		}
		for s := range wd.subs {
			s.deliver(event{dir: dir, name: name, op: ev.Op})
		}
	}
}

// event is one change in a watched directory.
type event struct {
	dir, name string
	op        fsnotify.Op
}

// maxQueue bounds a subscriber's queue; beyond it the subscriber re-lists.
const maxQueue = 4096

// sub is a subscription to the events of some directories that pass filter.
type sub struct {
	n       *notifier
	gen     uint64
	dirs    []string
	filter  func(dir, name string, op fsnotify.Op) bool
	polling bool          // inotify could not watch every directory: poll instead
	ch      chan struct{} // signalled when events are queued

	mu       sync.Mutex
	queue    []event
	overflow bool
}

// subscribe starts delivering the events of dirs that pass filter. A
// directory that does not exist yet is watched once ensure is called for it.
func (n *notifier) subscribe(filter func(dir, name string, op fsnotify.Op) bool, dirs ...string) *sub {
	s := &sub{n: n, filter: filter, ch: make(chan struct{}, 1), dirs: dirs}
	n.mu.Lock()
	defer n.mu.Unlock()
	s.gen = n.gen
	if n.w == nil {
		s.polling = true
		return s
	}
	for _, d := range dirs {
		wd := n.dirs[d]
		if wd == nil {
			wd = &watchedDir{subs: map[*sub]struct{}{}}
			n.dirs[d] = wd
		}
		wd.subs[s] = struct{}{}
		if err := n.addLocked(d, wd); err != nil && !notExist(err) {
			n.log.Warn("tooz file: cannot watch a directory with inotify; polling", "dir", d, "interval", fallbackPoll, "err", err)
			s.polling = true
		}
	}
	return s
}

func (n *notifier) addLocked(dir string, wd *watchedDir) error {
	if wd.added {
		return nil
	}
	if err := n.w.Add(dir); err != nil {
		return err
	}
	wd.added = true
	return nil
}

// keep marks a namespace's fixed directories, whose watch stays in place
// once made: waiters come and go often, and adding and removing a watch
// each time would cost more than the lock itself.
func (n *notifier) keep(dirs ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.w == nil {
		return
	}
	for _, d := range dirs {
		wd := n.dirs[d]
		if wd == nil {
			wd = &watchedDir{subs: map[*sub]struct{}{}}
			n.dirs[d] = wd
		}
		wd.keep = true
	}
}

// ensure watches dir again if it was (re)created since it was subscribed to.
func (s *sub) ensure(dir string) {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.gen != s.gen || n.w == nil {
		return
	}
	if wd := n.dirs[dir]; wd != nil {
		if err := n.addLocked(dir, wd); err != nil && !notExist(err) {
			n.log.Warn("tooz file: cannot watch a directory with inotify", "dir", dir, "err", err)
		}
	}
}

// close ends the subscription.
func (s *sub) close() {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.gen != s.gen || n.w == nil {
		return
	}
	for _, d := range s.dirs {
		wd := n.dirs[d]
		if wd == nil {
			continue
		}
		delete(wd.subs, s)
		if len(wd.subs) == 0 && !wd.keep {
			if wd.added {
				_ = n.w.Remove(d)
			}
			delete(n.dirs, d)
		}
	}
}

func (s *sub) deliver(ev event) {
	if !s.filter(ev.dir, ev.name, ev.op) {
		return
	}
	s.mu.Lock()
	switch {
	case s.overflow:
	case len(s.queue) >= maxQueue:
		s.overflow, s.queue = true, nil
	default:
		s.queue = append(s.queue, ev)
	}
	s.mu.Unlock()
	s.signal()
}

func (s *sub) lostTrack() {
	s.mu.Lock()
	s.overflow, s.queue = true, nil
	s.mu.Unlock()
	s.signal()
}

func (s *sub) signal() {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// take returns the queued events, or overflow when some were dropped.
func (s *sub) take() (evs []event, overflow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, overflow = s.queue, s.overflow
	s.queue, s.overflow = nil, false
	return evs, overflow
}

// groupWatch follows one group's membership for a GroupSink: it lists the
// group, then turns inotify events on the group directory (joins, leaves),
// on the groups directory (the group created or deleted) and on the
// sessions directory (a session ended) into Joined and Left, and arms a
// timer at the earliest session deadline to report expiries.
type groupWatch struct {
	c                  *conn
	group, gname, gdir string
	sink               tooz.MemberSink
	full               bool // read capabilities and report updates
	sub                *sub
	poll               time.Duration // > 0: re-list at this interval instead

	members map[string]watched // by file name; changed with set and remove
	// sids counts the members (and members being read) of each session,
	// for filter, which runs on the notifier's goroutine: the removal of a
	// session file no member uses wakes nobody (a sweep that removes
	// thousands of dead sessions would make every watch re-list).
	sidMu sync.Mutex
	sids  map[string]int
	// first is the earliest deadline among members, kept as members are
	// set, recomputed when stale (a member removed, or one at the earliest
	// deadline renewed): runWatch asks for it on every wake.
	first      time.Time
	firstStale bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// watched is a member as the watch knows it; m.sid is "" for a member
// whose file was gone before it could be read (its removal event follows).
type watched struct {
	m        memberFile
	deadline time.Time
	half     time.Duration // half the session's timeout (see expire), filled in by set
}

// maxIncremental is the most events handled one by one; a longer burst is
// cheaper to handle with one listing.
const maxIncremental = 256

// WatchGroup implements tooz.CoordinationDriver. It reads only the
// members' headers, not their capabilities.
func (c *conn) WatchGroup(ctx context.Context, group string, sink tooz.GroupSink) (func(), error) {
	return c.watchGroup(ctx, group, membersink.Legacy(sink), false)
}

// WatchMembers implements tooz.MemberWatcher. A capability update renames
// a new member file over the old one, which the watch sees as a creation of
// a file whose membership it knows: an update.
func (c *conn) WatchMembers(ctx context.Context, group string, sink tooz.MemberSink) (func(), error) {
	return c.watchGroup(ctx, group, sink, true)
}

func (c *conn) watchGroup(ctx context.Context, group string, sink tooz.MemberSink, full bool) (func(), error) {
	if err := c.usable(ctx); err != nil {
		return nil, err
	}
	gname := entryName(group)
	w := &groupWatch{c: c, group: group, gname: gname, gdir: filepath.Join(c.groupsDir, gname), sink: sink, full: full, done: make(chan struct{}), sids: map[string]int{}}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	if c.poll > 0 {
		w.poll = c.poll
	} else {
		w.sub = c.notif.subscribe(w.filter, c.groupsDir, c.sessDir, w.gdir)
		if w.sub.polling {
			w.poll = fallbackPoll
		}
	}
	if err := w.relist(ctx); err != nil {
		w.cancel()
		if w.sub != nil {
			w.sub.close()
		}
		return nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		w.cancel()
		if w.sub != nil {
			w.sub.close()
		}
		return nil, tooz.ErrClosed
	}
	c.watches[w] = struct{}{}
	c.mu.Unlock()
	go w.run()
	return func() {
		w.halt()
		c.mu.Lock()
		delete(c.watches, w)
		c.mu.Unlock()
	}, nil
}

// halt stops the watch and waits for its goroutine: the sink is not called after.
func (w *groupWatch) halt() {
	w.once.Do(func() {
		w.cancel()
		<-w.done
		if w.sub != nil {
			w.sub.close()
		}
	})
}

func (w *groupWatch) filter(dir, name string, op fsnotify.Op) bool {
	switch dir {
	case w.c.groupsDir:
		return name == w.gname
	case w.c.sessDir:
		if op&(fsnotify.Remove|fsnotify.Rename) == 0 {
			return false
		}
		w.sidMu.Lock()
		defer w.sidMu.Unlock()
		return w.sids[name] > 0
	case w.gdir:
		return !strings.HasPrefix(name, ".") && op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0
	}
	return false
}

func (w *groupWatch) run() {
	defer close(w.done)
	runWatch(w.ctx, w.sub, w.poll, w.firstDeadline, func(why wake) {
		switch why {
		case wokeEvents:
			w.onEvents()
		case wokeExpiry:
			w.expire()
		default:
			w.relistOrLog()
		}
	})
}

// wake says why a directory watch woke.
type wake int

const (
	wokeEvents wake = iota // its subscription has events
	wokeExpiry             // the earliest session deadline it knows passed
	wokePoll               // its poll interval passed
)

// runWatch is a directory watch's loop: until ctx ends it waits for s's
// events (s may be nil), for just after first()'s deadline (zero: none)
// or for the next poll (poll 0: none), and calls on with the reason.
func runWatch(ctx context.Context, s *sub, poll time.Duration, first func() time.Time, on func(wake)) {
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	var events <-chan struct{}
	if s != nil {
		events = s.ch
	}
	for {
		if at := first(); at.IsZero() {
			expiry.Stop()
		} else {
			expiry.Reset(time.Until(at) + time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-events:
			on(wokeEvents)
		case <-expiry.C:
			on(wokeExpiry)
		case <-tick:
			on(wokePoll)
		}
	}
}

// firstDeadline is the earliest session deadline of a known member.
func (w *groupWatch) firstDeadline() time.Time {
	if !w.firstStale {
		return w.first
	}
	var first time.Time
	for _, wm := range w.members {
		if !wm.deadline.IsZero() && (first.IsZero() || wm.deadline.Before(first)) {
			first = wm.deadline
		}
	}
	w.first, w.firstStale = first, false
	return first
}

// interest counts one more (n = 1) or one fewer (n = -1) member of
// session sid.
func (w *groupWatch) interest(sid string, n int) {
	if sid == "" {
		return
	}
	w.sidMu.Lock()
	defer w.sidMu.Unlock()
	if w.sids[sid] += n; w.sids[sid] <= 0 {
		delete(w.sids, sid)
	}
}

// set records member name as wm.
func (w *groupWatch) set(name string, wm watched) {
	if wm.half == 0 {
		timeout, _ := sidTimeout(wm.m.sid)
		wm.half = timeout / 2
	}
	old, had := w.members[name]
	w.members[name] = wm
	if !had || old.m.sid != wm.m.sid {
		w.interest(wm.m.sid, 1)
		if had {
			w.interest(old.m.sid, -1)
		}
	}
	switch {
	case w.firstStale:
	case had && !old.deadline.IsZero() && !old.deadline.After(w.first):
		w.firstStale = true // the earliest deadline may have moved later
	case !wm.deadline.IsZero() && (w.first.IsZero() || wm.deadline.Before(w.first)):
		w.first = wm.deadline
	}
}

// remove forgets member name.
func (w *groupWatch) remove(name string) {
	if old, ok := w.members[name]; ok {
		delete(w.members, name)
		w.interest(old.m.sid, -1)
	}
	w.firstStale = true
}

func (w *groupWatch) onEvents() {
	evs, overflow := w.sub.take()
	if overflow || len(evs) > maxIncremental {
		w.relistOrLog()
		return
	}
	for _, ev := range evs {
		if w.ctx.Err() != nil {
			return
		}
		switch ev.dir {
		case w.c.groupsDir: // the group was created or deleted
			if ev.op.Has(fsnotify.Create) {
				w.sub.ensure(w.gdir)
			}
			w.relistOrLog()
		case w.c.sessDir:
			w.sessionEnded(ev.name)
		case w.gdir:
			w.entryChanged(ev.name, ev.op)
		}
	}
}

// relist reads the whole group and reports it with sink.Snapshot. After the
// first listing it reports the differences itself, so that a membership
// replaced since the last listing (a leave and a re-join, seen only by a
// listing when events were lost or when polling) is reported as a leave
// and a join: first the leaves, by member ID, then the joins, in the order
// the members joined.
func (w *groupWatch) relist(ctx context.Context) error {
	list, err := w.c.scanGroup(ctx, w.group, w.full, true)
	if errors.Is(err, tooz.ErrGroupNotCreated) {
		list, err = nil, nil
	}
	if err != nil {
		return err
	}
	members := make(map[string]watched, len(list))
	infos := make([]tooz.MemberInfo, 0, len(list))
	var stale []scanned
	for _, s := range list {
		if s.alive {
			members[s.name] = watched{m: s.m, deadline: s.deadline}
			infos = append(infos, info(s.m))
		} else {
			stale = append(stale, s)
		}
	}
	if w.members != nil {
		var left []string
		var joined []memberFile
		for name, old := range w.members {
			if now, ok := members[name]; !ok || (old.m.sid != "" && !old.m.sameMembership(now.m)) {
				left = append(left, old.m.id)
			}
		}
		for name, now := range members {
			if old, ok := w.members[name]; !ok || (old.m.sid != "" && !old.m.sameMembership(now.m)) {
				joined = append(joined, now.m)
			}
		}
		slices.Sort(left)
		slices.SortFunc(joined, func(a, b memberFile) int { return a.rec.JoinedAt.Compare(b.rec.JoinedAt) })
		for _, id := range left {
			w.sink.Left(id, 0)
		}
		for _, m := range joined {
			w.sink.Joined(info(m), 0)
		}
	}
	// A session removed while the group was read, before it counted here,
	// woke nobody: its members stay until their deadline, which expire
	// then finds passed.
	w.sidMu.Lock()
	w.sids = map[string]int{}
	w.sidMu.Unlock()
	w.members = make(map[string]watched, len(members))
	w.firstStale = true
	for name, wm := range members {
		w.set(name, wm)
	}
	w.sink.Snapshot(infos, 0)
	w.c.cleanStale(w.group, stale)
	return nil
}

func (w *groupWatch) relistOrLog() {
	if err := w.relist(w.ctx); err != nil && w.ctx.Err() == nil {
		w.c.log.Warn("tooz file: listing a watched group failed; retrying on the next event", "group", w.group, "err", err)
	}
}

// entryChanged handles a member file created (a join, or an update) or removed.
func (w *groupWatch) entryChanged(name string, op fsnotify.Op) {
	if op&(fsnotify.Remove|fsnotify.Rename) != 0 {
		if old, ok := w.members[name]; ok {
			w.remove(name)
			w.sink.Left(old.m.id, 0)
		}
		return
	}
	old, had := w.members[name]
	limit := memberHeaderMax
	if w.full {
		limit = 0
	}
	b, err := readAt(unix.AT_FDCWD, filepath.Join(w.gdir, name), limit)
	if notExist(err) {
		// Joined and already gone: report the join (its capabilities
		// unknown); its removal event follows and reports the leave.
		if id, ok := idFromEntry(name); ok && !had {
			w.set(name, watched{m: memberFile{id: id}})
			w.sink.Joined(tooz.MemberInfo{ID: id}, 0)
		}
		return
	}
	if errors.Is(err, unix.EISDIR) {
		return // not a member: scanGroup ignores it too
	}
	if err != nil {
		w.c.log.Warn("tooz file: reading a member file failed; re-listing", "group", w.group, "err", err)
		w.relistOrLog()
		return
	}
	m, err := decodeMember(b, w.full)
	if err == nil && entryName(m.id) != name {
		err = fmt.Errorf("%w: it holds the ID %q, whose file has another name", errMalformed, m.id)
	}
	if err != nil {
		w.c.log.Warn("tooz file: ignoring a malformed member file", "file", filepath.Join(w.gdir, name), "err", err)
		return
	}
	// Counted before the look, so that the session's removal from now on
	// is delivered; set counts it for the member.
	w.interest(m.sid, 1)
	defer w.interest(m.sid, -1)
	deadline, alive, err := w.c.sessionNear(m.sid, time.Now(), 0)
	if err != nil {
		w.relistOrLog()
		return
	}
	if !alive {
		if had {
			w.remove(name)
			w.sink.Left(old.m.id, 0)
		}
		w.c.cleanStale(w.group, []scanned{{name: name, m: m}})
		return
	}
	if had && old.m.sid == m.sid && !old.m.sameMembership(m) {
		// This event is older than the file: the same session left (an
		// unlink) and joined again (a new file) since. Both events are
		// still queued: report the leave now and let the join's own
		// event report it, so that changes in between keep their order
		// (a later removal event for the name finds it gone already).
		w.remove(name)
		w.sink.Left(old.m.id, 0)
		return
	}
	w.set(name, watched{m: m, deadline: deadline})
	switch {
	case !had:
		w.sink.Joined(info(m), 0)
	case old.m.sid != "" && !old.m.sameMembership(m): // a dead membership replaced by a new one
		w.sink.Left(old.m.id, 0)
		w.sink.Joined(info(m), 0)
	case w.full:
		w.sink.Updated(info(m), 0) // the sink drops an update that changed nothing
	}
}

// sessionEnded reports the members of a session whose file was removed.
func (w *groupWatch) sessionEnded(sid string) {
	var gone []scanned
	for name, wm := range w.members {
		if wm.m.sid == sid {
			gone = append(gone, scanned{name: name, m: wm.m})
		}
	}
	w.drop(gone)
}

// expire runs when the earliest deadline it knows passed. It checks the
// sessions whose deadline is less than half their timeout away (see
// procVerdicts): renewed ones get a new deadline, expired ones are removed
// and their members reported gone.
func (w *groupWatch) expire() {
	now := time.Now()
	verdicts := map[string]time.Time{} // session → new deadline; zero when dead
	var gone []scanned
	for name, wm := range w.members {
		if wm.deadline.IsZero() {
			continue
		}
		margin := wm.half
		if wm.deadline.Sub(now) > margin {
			continue
		}
		deadline, ok := verdicts[wm.m.sid]
		if !ok {
			d, alive, err := w.c.sessionNear(wm.m.sid, now, margin)
			switch {
			case err != nil:
				w.c.log.Warn("tooz file: checking a session failed", "err", err)
				deadline = now.Add(fallbackPoll) // try again soon
			case alive:
				deadline = d
			}
			verdicts[wm.m.sid] = deadline
		}
		if deadline.IsZero() {
			gone = append(gone, scanned{name: name, m: wm.m})
			continue
		}
		wm.deadline = deadline
		w.set(name, wm)
	}
	w.drop(gone)
}

// drop reports members gone, in name order, and removes their files.
func (w *groupWatch) drop(gone []scanned) {
	if len(gone) == 0 {
		return
	}
	slices.SortFunc(gone, func(a, b scanned) int { return strings.Compare(a.name, b.name) })
	for _, s := range gone {
		w.remove(s.name)
		w.sink.Left(s.m.id, 0)
	}
	w.c.cleanStale(w.group, gone)
}
