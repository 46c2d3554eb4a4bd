// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import "slices"

// A lock's owner follows its znode without a request of its own for as
// long as nothing else happens in the lock's directory.
//
// contend lists the directory with a child watch. When that listing makes
// the contender the owner, and no child event of the directory reached the
// session since the listing was sent, the watch the listing set is still
// armed: any change of the directory's children fires it, the owner
// znode's deletion among them. The ownership is then followed by that
// watch alone, so an uncontended cycle is create, list, delete, as with
// zk.Lock (the exists watch it had before made it four requests).
//
// A child event may be a waiter arriving rather than the owner znode
// going, and the watch is spent either way: at the first one the
// ownership changes over to an exists watch on its own znode
// (armOwnerWatch), whose answer also says whether the znode is still
// there. A waiter's arrival thus costs the owner the one request every
// owner paid before, and later arrivals nothing. An ownership won without
// a listing (a hand-over: the only lower znode went away) starts with the
// exists watch.
//
// The session's child watch of a directory is one watch, whichever call
// set it, and its event reaches onEvent once: dirWatch counts those
// events from before a listing is sent until its ownership is registered,
// so that an event in between is not lost.

// dirWatch is a session's following of one lock directory.
type dirWatch struct {
	owners  []*ownership // followed by the directory's child watch
	listers int          // Acquire calls contending in the directory
	events  uint64       // child events of the directory seen
}

// listen registers an Acquire contending in dir: until unlisten, dir's
// child events are counted. It reports false when the session ended.
func (s *session) listen(dir string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirs == nil {
		return false
	}
	d := s.dirs[dir]
	if d == nil {
		d = &dirWatch{}
		s.dirs[dir] = d
	}
	d.listers++
	return true
}

// unlisten ends what listen began.
func (s *session) unlisten(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.dirs[dir]; d != nil {
		d.listers--
		s.dropIdleDir(dir, d)
	}
}

// dropIdleDir forgets d when nothing needs it; s.mu is held.
func (s *session) dropIdleDir(dir string, d *dirWatch) {
	if d.listers <= 0 && len(d.owners) == 0 {
		delete(s.dirs, dir)
	}
}

// dirEvents returns how many child events of dir the session has seen
// since listen (read before each listing).
func (s *session) dirEvents(dir string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.dirs[dir]; d != nil {
		return d.events
	}
	return 0
}

// followByDir makes the child watch that o's winning listing set follow
// o, when no child event of o's directory came since that listing (see
// ownership.listedAt); it reports false when one came, or when o was won
// without a listing, and the caller arms an exists watch instead. o is in
// s.owned already.
func (s *session) followByDir(o *ownership) bool {
	if !o.listed {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dirs[o.dir]
	if d == nil || d.events != o.listedAt || s.owned[o.path] != o {
		return false
	}
	d.owners = append(d.owners, o)
	o.byDir = true
	return true
}

// dirEvent counts a child event of dir and moves the ownerships the
// directory's watch followed, now spent, to exists watches. It runs on the
// client's receiving goroutine and does not block.
func (s *session) dirEvent(dir string) {
	s.mu.Lock()
	d := s.dirs[dir]
	if d == nil {
		s.mu.Unlock()
		return
	}
	d.events++
	moved := d.owners
	d.owners = nil
	for _, o := range moved {
		o.byDir = false
	}
	s.dropIdleDir(dir, d)
	s.mu.Unlock()
	for _, o := range moved {
		if !o.Ended() {
			s.c.armOwnerWatch(o)
		}
	}
}

// unfollowDir stops following o by its directory's watch; s.mu is held.
func (s *session) unfollowDir(o *ownership) {
	if !o.byDir {
		return
	}
	o.byDir = false
	d := s.dirs[o.dir]
	if d == nil {
		return
	}
	d.owners = slices.DeleteFunc(d.owners, func(x *ownership) bool { return x == o })
	s.dropIdleDir(o.dir, d)
}
