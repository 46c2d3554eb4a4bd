// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"sync"
	"time"
)

// Group watches decide a member's liveness by its session: they check it
// (a stat and a flock probe) when the deadline they know passes. With many
// watchers in one process — many coordinators, each watching the group it
// is in — every watcher would check every session once per timeout, a cost
// that grows with watchers × sessions. The process keeps instead, per
// session file, the latest deadline a check found (the session is alive
// until then, unless its file is removed, which watchers hear of), and a
// watcher checks a session itself only when that deadline is near; and
// when it checks one, it checks every session of its group whose deadline
// is near, so that it wakes about twice per timeout, not once per member.
//
// procVerdicts lives beside procNotifier, the process's inotify watcher:
// both are shared by every coordinator of the process.
var procVerdicts = verdicts{m: map[sessionKey]time.Time{}, swept: map[string]time.Time{}}

// sessionKey names a session file: its directory and the session ID.
type sessionKey struct{ dir, sid string }

// verdicts maps session files to the deadline a check found.
type verdicts struct {
	mu    sync.Mutex
	m     map[sessionKey]time.Time
	prune int // size at which stale entries are dropped next
	// swept is when the process last swept each sessions directory (see
	// conn.sweep): a coordinator opened within a sweep interval of the
	// last one does not sweep again.
	swept map[string]time.Time
}

// sweepDue reports whether the sessions directory dir was not swept by
// this process within the last interval, and if so counts it swept now.
func (v *verdicts) sweepDue(dir string, interval time.Duration) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	if last, ok := v.swept[dir]; ok && now.Sub(last) < interval {
		return false
	}
	v.swept[dir] = now
	return true
}

// get returns the known deadline of the session file p, if it is more
// than margin away.
func (v *verdicts) get(p sessionKey, now time.Time, margin time.Duration) (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	d, ok := v.m[p]
	return d, ok && d.Sub(now) > margin
}

// put records that the session file p is alive until d.
func (v *verdicts) put(p sessionKey, d time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if old, ok := v.m[p]; ok && !d.After(old) {
		return
	}
	v.m[p] = d
	if len(v.m) >= v.prune {
		now := time.Now()
		for k, d := range v.m {
			if d.Before(now) {
				delete(v.m, k)
			}
		}
		v.prune = max(2*len(v.m), 1024)
	}
}

// forget drops what is known of the session file p (it was removed).
func (v *verdicts) forget(p sessionKey) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, p)
}

// sessionNear is session for a watcher: a deadline more than margin away
// that the process already knows is used as is.
func (c *conn) sessionNear(sid string, now time.Time, margin time.Duration) (deadline time.Time, alive bool, err error) {
	p := sessionKey{c.sessDir, sid}
	if d, ok := procVerdicts.get(p, now, margin); ok {
		return d, true, nil
	}
	deadline, alive, err = c.session(sid) // which forgets a session it finds dead
	if err == nil && alive {
		procVerdicts.put(p, deadline)
	}
	return deadline, alive, err
}
