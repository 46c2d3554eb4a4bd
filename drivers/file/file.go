// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toozgo/tooz"
	"golang.org/x/sys/unix"
)

func init() { tooz.Register("file", driver{}) }

// driver opens coordinators on a directory.
type driver struct{}

// The driver's URL options (see the package documentation).
const (
	optSync = "sync"
	optPoll = "poll"
)

// Options implements tooz.Driver.
func (driver) Options() []string { return []string{optSync, optPoll} }

// Subdirectories of a namespace directory.
const (
	dirGroups    = "groups"
	dirSessions  = "sessions"
	dirLocks     = "locks"
	dirElections = "elections"
	dirTmp       = "tmp"
)

// Open implements tooz.Driver: it validates the URL, creates the directory
// tree and this coordinator's session.
func (driver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	root, err := rootDir(cfg)
	if err != nil {
		return nil, err
	}
	syncWrites := false
	if v, ok := cfg.Options[optSync]; ok {
		syncWrites, err = strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%w: option %s=%q: want true or false", tooz.ErrInvalidURL, optSync, v)
		}
	}
	poll, err := cfg.Duration(optPoll, 0)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ns := filepath.Join(root, entryName(cfg.Namespace))
	c := &conn{
		ns:        ns,
		groupsDir: filepath.Join(ns, dirGroups),
		sessDir:   filepath.Join(ns, dirSessions),
		locksDir:  filepath.Join(ns, dirLocks),
		electDir:  filepath.Join(ns, dirElections),
		tmpDir:    filepath.Join(ns, dirTmp),
		member:    cfg.MemberID,
		timeout:   cfg.Timeout,
		sync:      syncWrites,
		poll:      poll,
		log:       cfg.Logger,
		done:      make(chan struct{}),
		sessFD:    -1,
		groups:    map[string]struct{}{},
		owns:      map[*ownership]struct{}{},
		watches:   map[halter]struct{}{},
	}
	if err := checkLocalFS(existingAncestor(ns)); err != nil {
		return nil, err
	}
	if err := c.makeDirs(); err != nil {
		return nil, err
	}
	c.notif = acquireNotifier(c.log)
	c.notif.keep(c.groupsDir, c.sessDir, c.locksDir, c.electDir, c.kvDir())
	if err := c.startSession(); err != nil {
		c.notif.release()
		return nil, err
	}
	c.sweep()
	return c, nil
}

// rootDir returns the directory a file URL names: file:///abs/dir, or
// file://localhost/abs/dir.
func rootDir(cfg tooz.Config) (string, error) {
	u := cfg.URL
	switch {
	case u.Opaque != "":
		return "", fmt.Errorf("%w: want file:///absolute/directory, got a relative path", tooz.ErrInvalidURL)
	case u.User != nil:
		return "", fmt.Errorf("%w: a file URL takes no user or password", tooz.ErrInvalidURL)
	case u.Host != "" && u.Host != "localhost":
		return "", fmt.Errorf("%w: a file URL names a directory of this host, not host %q (want file:///absolute/directory)", tooz.ErrInvalidURL, u.Host)
	case u.Path == "" || !filepath.IsAbs(u.Path):
		return "", fmt.Errorf("%w: want file:///absolute/directory, got path %q", tooz.ErrInvalidURL, u.Path)
	}
	return filepath.Clean(u.Path), nil
}

// existingAncestor returns dir or its closest existing ancestor.
func existingAncestor(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}

// ioErr reports a filesystem failure: the backend is unusable.
func ioErr(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", tooz.ErrConnection, what, err)
}

// halter is a running watch.
type halter interface{ halt() }

// conn is one coordinator's driver.
type conn struct {
	ns                                             string
	groupsDir, sessDir, locksDir, electDir, tmpDir string
	member                                         string
	timeout                                        time.Duration
	sync                                           bool
	poll                                           time.Duration // > 0: never use inotify
	log                                            *slog.Logger
	notif                                          *notifier

	beatMu sync.Mutex // serializes Heartbeat, Close and Abandon

	mu      sync.Mutex
	closed  bool
	done    chan struct{}       // closed by Close and Abandon
	sid     string              // the session; "" after a loss until a new one is made
	sessFD  int                 // holds the session file's flock (incarnation.go); -1 without
	groups  map[string]struct{} // groups joined under sid
	owns    map[*ownership]struct{}
	watches map[halter]struct{} // group and key watches

	shares sharePool // semaphore and read/write lock directories kept open (sharedir.go)

	// testHoldWatches, when set (by tests), holds every key watch that
	// woke until the channel closes.
	testHoldWatches atomic.Pointer[chan struct{}]
}

// Characteristics implements tooz.CoordinationDriver.
//
// Every operation is a handful of system calls on one local filesystem of
// one kernel. Each metadata operation the driver relies on (mkdir, rename,
// unlink, flock) takes effect atomically at one instant inside the call and
// is visible at once to every process of the host: there is one copy of the
// state, no replica and no cache that could lag. Operations that read or
// change several entries hold a flock on the directory concerned (exclusive
// to change it, shared to list it), so a listing is a snapshot and a guarded
// change (join only into an existing group, delete only an empty one) runs
// as if alone. Member expiry is decided by the first reader that sees a
// stale session and made final by removing the session file, so no reader
// sees a member again after another saw it expire. Hence:
//   - Linearizable (and so Sequential and Causal): each call takes effect at
//     one instant between its start and its return.
//   - Serializable: multi-entry operations run under an exclusive flock.
//   - SameViewAcrossClients: all clients read the same inodes.
//   - SameViewUnderPartitions: clients on one host share one kernel; there
//     is no network between them to partition.
//   - DistributedAcrossThreads and DistributedAcrossProcesses; not across
//     hosts (flock and inotify are host-local; network filesystems are refused).
//   - Not NonTimeoutBased: locks and leaderships end with their holder, but
//     memberships expire by a heartbeat timeout.
func (c *conn) Characteristics() []tooz.Characteristic {
	return []tooz.Characteristic{
		tooz.DistributedAcrossThreads, tooz.DistributedAcrossProcesses,
		tooz.Linearizable, tooz.Sequential, tooz.Causal, tooz.Serializable,
		tooz.SameViewAcrossClients, tooz.SameViewUnderPartitions,
	}
}

// usable reports ctx's error or ErrClosed.
func (c *conn) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return tooz.ErrClosed
	}
	return nil
}

// interval is the time between heartbeats.
func (c *conn) interval() time.Duration { return c.timeout / 3 }

// Session IDs are 16 hex digits, '-', and the session's timeout in
// nanoseconds, so that every reader judges a session by its own timeout.
func newSID(timeout time.Duration) string {
	return randHex(8) + "-" + strconv.FormatInt(int64(timeout), 10)
}

// sidTimeout parses a session ID; ok is false for anything newSID cannot
// have made (foreign data must never name a path outside the sessions directory).
func sidTimeout(sid string) (time.Duration, bool) {
	r, t, ok := strings.Cut(sid, "-")
	if !ok || len(r) != 16 || len(t) == 0 || len(t) > 19 {
		return 0, false
	}
	for i := 0; i < len(r); i++ {
		if !('0' <= r[i] && r[i] <= '9' || 'a' <= r[i] && r[i] <= 'f') {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return time.Duration(n), true
}

func (c *conn) sessPath(sid string) string { return filepath.Join(c.sessDir, sid) }

// makeDirs creates the namespace's directories.
func (c *conn) makeDirs() error {
	for _, d := range []string{c.groupsDir, c.sessDir, c.locksDir, c.electDir, c.tmpDir, c.kvDir()} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			return ioErr("create the directory", err)
		}
	}
	return nil
}

// startSession creates a new session file and makes it current. If the
// namespace's directories were removed from under it, it makes them again.
func (c *conn) startSession() error {
	err := c.newSession()
	if err != nil && notExist(err) {
		if err := c.makeDirs(); err != nil {
			return err
		}
		err = c.newSession()
	}
	return err
}

func (c *conn) newSession() error {
	sid := newSID(c.timeout)
	body := fmt.Appendf(nil, "member %q\npid %d\ntimeout %v\n", c.member, os.Getpid(), c.timeout)
	tmp, fd, err := c.writeHeldSession(body)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, c.sessPath(sid)); err != nil {
		unix.Close(fd)
		_ = os.Remove(tmp)
		return ioErr("create the session", err)
	}
	c.mu.Lock()
	c.dropSessionFDLocked()
	c.sid, c.sessFD = sid, fd
	c.mu.Unlock()
	return nil
}

// session reports whether session sid is alive and until when. A session
// found expired is removed on the spot, which makes the verdict final for
// every reader: a late heartbeat cannot bring it back.
func (c *conn) session(sid string) (deadline time.Time, alive bool, err error) {
	timeout, ok := sidTimeout(sid)
	if !ok {
		return time.Time{}, false, nil
	}
	p := c.sessPath(sid)
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			procVerdicts.forget(sessionKey{c.sessDir, sid})
			return time.Time{}, false, nil
		}
		return time.Time{}, false, ioErr("read a session", err)
	}
	deadline = fi.ModTime().Add(timeout)
	if time.Now().Before(deadline) {
		if !ownerGone(p) {
			return deadline, true, nil
		}
		procVerdicts.forget(sessionKey{c.sessDir, sid})
		if err := os.Remove(p); err == nil {
			c.log.Info("tooz file: session's process is gone", "session", sid)
		}
		return time.Now(), false, nil
	}
	procVerdicts.forget(sessionKey{c.sessDir, sid})
	if err := os.Remove(p); err == nil {
		c.log.Info("tooz file: session expired", "session", sid, "last_heartbeat", fi.ModTime())
	}
	return deadline, false, nil
}

// liveSession returns the current session after checking that it is alive
// as others see it, so that nothing is written under a dead session.
func (c *conn) liveSession(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	closed, sid := c.closed, c.sid
	c.mu.Unlock()
	if closed {
		return "", tooz.ErrClosed
	}
	if sid == "" {
		return "", fmt.Errorf("%w: waiting for the next heartbeat to make a new session", tooz.ErrSessionLost)
	}
	if _, alive, err := c.session(sid); err != nil {
		return "", err
	} else if !alive {
		return "", fmt.Errorf("%w: the session expired; the next heartbeat makes a new one", tooz.ErrSessionLost)
	}
	return sid, nil
}

// Heartbeat implements tooz.CoordinationDriver: it sets the session file's
// modification time to now. When the session is gone (another member saw it
// expire and removed it) or expired (the last beat is older than the
// timeout), the session is lost: every ownership ends, a new session is
// made and the error wraps ErrSessionLost.
func (c *conn) Heartbeat(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.beatMu.Lock()
	defer c.beatMu.Unlock()
	c.mu.Lock()
	closed, sid := c.closed, c.sid
	c.mu.Unlock()
	if closed {
		return 0, tooz.ErrClosed
	}
	if sid == "" { // lost earlier, and no new session could be made then
		if err := c.startSession(); err != nil {
			return 0, err
		}
		return c.interval(), fmt.Errorf("%w: the session was lost; a new one is in place", tooz.ErrSessionLost)
	}
	reason, err := c.renew(sid)
	if err != nil {
		return 0, err
	}
	if reason == "" {
		return c.interval(), nil
	}
	c.loseSession(ctx, sid, reason)
	if err := c.startSession(); err != nil {
		return 0, err // the next successful beat reports the loss
	}
	return c.interval(), fmt.Errorf("%w: %s; a new session is in place", tooz.ErrSessionLost, reason)
}

// renew touches session sid, or says why it is lost.
func (c *conn) renew(sid string) (lost string, err error) {
	p := c.sessPath(sid)
	now := time.Now()
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "the session was removed by a member that saw it expire", nil
	case err != nil:
		return "", ioErr("renew the session", err)
	case !now.Before(fi.ModTime().Add(c.timeout)):
		return fmt.Sprintf("no heartbeat for %v (timeout %v)", now.Sub(fi.ModTime()).Round(time.Millisecond), c.timeout), nil
	}
	if err := os.Chtimes(p, now, now); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "the session was removed by a member that saw it expire", nil
		}
		return "", ioErr("renew the session", err)
	}
	return "", nil
}

// loseSession ends session sid: its file goes (final for every reader), its
// ownerships end, its member files are removed.
func (c *conn) loseSession(ctx context.Context, sid, reason string) {
	procVerdicts.forget(sessionKey{c.sessDir, sid})
	_ = os.Remove(c.sessPath(sid))
	c.mu.Lock()
	owns, groups := c.owns, c.groups
	c.owns, c.groups = map[*ownership]struct{}{}, map[string]struct{}{}
	c.sid = ""
	c.dropSessionFDLocked()
	c.mu.Unlock()
	c.log.Warn("tooz file: session lost", "session", sid, "reason", reason)
	for o := range owns {
		o.end(true)
	}
	for g := range groups {
		if err := c.removeMember(ctx, g, sid); err != nil {
			c.log.Info("tooz file: could not remove a lost session's membership; it is dead anyway", "group", g, "err", err)
		}
	}
}

// Close implements tooz.CoordinationDriver: it releases every lock, leaves
// every group and removes the session, so that nothing waits for a timeout.
func (c *conn) Close(ctx context.Context) error {
	c.beatMu.Lock()
	defer c.beatMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	sid, groups, owns, watches := c.sid, c.groups, c.owns, c.watches
	c.groups, c.owns, c.watches = nil, nil, nil
	c.mu.Unlock()
	for w := range watches {
		w.halt()
	}
	c.closeShares(true) // the contender files given back now are removed
	for o := range owns {
		o.end(true)
	}
	var first error
	for g := range groups {
		if err := c.removeMember(ctx, g, sid); err != nil && first == nil {
			first = err
		}
	}
	// Without its session file every membership left behind is dead at once.
	if sid != "" {
		procVerdicts.forget(sessionKey{c.sessDir, sid})
		if err := os.Remove(c.sessPath(sid)); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = ioErr("remove the session", err)
		}
	}
	c.mu.Lock()
	c.dropSessionFDLocked()
	c.mu.Unlock()
	c.notif.release()
	return first
}

// Abandon implements tooz.Abandoner: like a killed process, it closes its
// file descriptors (which frees its flocks) and stops heartbeating and
// watching, but leaves its session and member files to expire.
func (c *conn) Abandon() {
	c.beatMu.Lock()
	defer c.beatMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.done)
	owns, watches := c.owns, c.watches
	c.groups, c.owns, c.watches = nil, nil, nil
	// A crashed process's flocks go with it: so does the session's.
	c.dropSessionFDLocked()
	c.mu.Unlock()
	for w := range watches {
		w.halt()
	}
	for o := range owns {
		o.end(false)
	}
	c.closeShares(false)
	c.notif.release()
}

// sweep removes what crashed coordinators left behind: expired session
// files and old temporary files. Member files of dead sessions are removed
// by whoever reads their group.
func (c *conn) sweep() {
	// Once per process and timeout is enough: coordinators opened together
	// (a service starting a thousand) would each read every session.
	if !procVerdicts.sweepDue(c.sessDir, c.timeout) {
		return
	}
	if names, err := readDirNames(c.sessDir); err == nil {
		for _, n := range names {
			_, _, _ = c.session(n)
		}
	}
	if entries, err := os.ReadDir(c.tmpDir); err == nil {
		cutoff := time.Now().Add(-tmpMaxAge)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
				_ = os.RemoveAll(filepath.Join(c.tmpDir, e.Name()))
			}
		}
	}
}

// tmpMaxAge is how old a temporary file must be for a sweep to remove it:
// far longer than any write takes.
const tmpMaxAge = time.Hour
