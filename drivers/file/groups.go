// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/record"
)

// idFile holds a hashed group directory's name. A hashed directory without
// it is half made or half deleted, and does not exist as a group.
const idFile = ".id"

// groupID reads the name of the hashed group directory at path.
func groupID(dirfd int, rel string) (string, bool) {
	b, err := readAt(dirfd, rel, 0)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// lockGroup opens group's directory and flocks it (unix.LOCK_SH to read a
// snapshot, unix.LOCK_EX to change it). Holding the flock, it checks that
// the directory is still the group's (a delete holds the flock exclusively
// while it removes the directory), so every operation on the returned
// directory sees the group exist throughout.
func (c *conn) lockGroup(ctx context.Context, group string, how int) (*lockedDir, error) {
	name := entryName(group)
	path := filepath.Join(c.groupsDir, name)
	for attempt := 0; ; attempt++ {
		d, err := lockDir(ctx, path, how)
		if err != nil {
			if notExist(err) {
				return nil, tooz.ErrGroupNotCreated
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, ioErr("open the group", err)
		}
		same, err := samePath(d.fd, path)
		if err != nil {
			d.close()
			return nil, ioErr("open the group", err)
		}
		if same {
			if isHashed(name) {
				if id, ok := groupID(d.fd, idFile); !ok || id != group {
					d.close()
					return nil, tooz.ErrGroupNotCreated
				}
			}
			return d, nil
		}
		d.close() // deleted (and maybe created again) meanwhile
		if attempt == 10 {
			return nil, fmt.Errorf("%w: the group directory keeps being replaced", tooz.ErrGroupNotCreated)
		}
	}
}

// lockGroups flocks the directory of all groups (shared to list, exclusive
// to create or delete a group).
func (c *conn) lockGroups(ctx context.Context, how int) (*lockedDir, error) {
	d, err := lockDir(ctx, c.groupsDir, how)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, ioErr("open the groups directory", err)
	}
	return d, nil
}

func (c *conn) syncDir(d *lockedDir) error {
	if !c.sync {
		return nil
	}
	if err := unix.Fsync(d.fd); err != nil {
		return ioErr("sync", err)
	}
	return nil
}

// CreateGroup implements tooz.CoordinationDriver.
func (c *conn) CreateGroup(ctx context.Context, group string) error {
	if err := c.usable(ctx); err != nil {
		return err
	}
	gs, err := c.lockGroups(ctx, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer gs.close()
	name := entryName(group)
	err = unix.Mkdirat(gs.fd, name, 0o777)
	switch {
	case err == unix.EEXIST && !isHashed(name):
		return tooz.ErrGroupAlreadyExists
	case err == unix.EEXIST:
		if id, ok := groupID(gs.fd, name+"/"+idFile); ok {
			if id != group {
				return fmt.Errorf("%w: group directory %s belongs to another name with the same hash", tooz.ErrGroupAlreadyExists, name)
			}
			return tooz.ErrGroupAlreadyExists
		}
		// Half made or half deleted by a process that died: finish it.
	case err != nil:
		return ioErr("create the group", err)
	}
	if isHashed(name) {
		tmp, err := c.writeTmp([]byte(group))
		if err != nil {
			return err
		}
		if err := unix.Renameat(unix.AT_FDCWD, tmp, gs.fd, name+"/"+idFile); err != nil {
			_ = unix.Unlink(tmp)
			return ioErr("create the group", err)
		}
	}
	return c.syncDir(gs)
}

// DeleteGroup implements tooz.CoordinationDriver: members whose session
// expired do not count; their files are removed with the group.
func (c *conn) DeleteGroup(ctx context.Context, group string) error {
	if err := c.usable(ctx); err != nil {
		return err
	}
	gs, err := c.lockGroups(ctx, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer gs.close()
	g, err := c.lockGroup(ctx, group, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer g.close()
	names, err := g.f.Readdirnames(-1)
	if err != nil {
		return ioErr("list the group", err)
	}
	var stale []string
	for _, n := range names {
		if n == idFile {
			continue
		}
		b, err := readAt(g.fd, n, memberHeaderMax)
		if notExist(err) {
			continue
		}
		if err != nil {
			return ioErr("read a member", err)
		}
		m, err := decodeMember(b, false)
		if err != nil {
			return fmt.Errorf("%w: the group directory holds %q, which is not a member file; remove it by hand", tooz.ErrGroupNotEmpty, n)
		}
		_, alive, err := c.session(m.sid)
		if err != nil {
			return err
		}
		if alive {
			return tooz.ErrGroupNotEmpty
		}
		stale = append(stale, n)
	}
	for _, n := range stale {
		if err := unix.Unlinkat(g.fd, n, 0); err != nil && err != unix.ENOENT {
			return ioErr("remove an expired member", err)
		}
	}
	name := filepath.Base(g.path)
	if isHashed(name) {
		if err := unix.Unlinkat(g.fd, idFile, 0); err != nil && err != unix.ENOENT {
			return ioErr("delete the group", err)
		}
	}
	if err := unix.Unlinkat(gs.fd, name, unix.AT_REMOVEDIR); err != nil {
		if err == unix.ENOTEMPTY || err == unix.EEXIST {
			return fmt.Errorf("%w: the group directory holds files the driver did not write", tooz.ErrGroupNotEmpty)
		}
		return ioErr("delete the group", err)
	}
	return c.syncDir(gs)
}

// Groups implements tooz.CoordinationDriver.
func (c *conn) Groups(ctx context.Context) ([]string, error) {
	if err := c.usable(ctx); err != nil {
		return nil, err
	}
	gs, err := c.lockGroups(ctx, unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer gs.close()
	entries, err := gs.f.ReadDir(-1)
	if err != nil {
		return nil, ioErr("list the groups", err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && e.Type()&fs.ModeSymlink == 0 { // every group is a directory
			if !strings.HasPrefix(n, ".") {
				c.log.Warn("tooz file: ignoring a foreign entry in the groups directory", "name", n)
			}
			continue
		}
		if isHashed(n) {
			if id, ok := groupID(gs.fd, n+"/"+idFile); ok {
				out = append(out, id)
			}
			continue
		}
		if strings.HasPrefix(n, ".") {
			continue
		}
		id, ok := idFromEntry(n)
		if !ok {
			c.log.Warn("tooz file: ignoring a foreign entry in the groups directory", "name", n)
			continue
		}
		out = append(out, id)
	}
	return out, nil
}

// JoinGroup implements tooz.CoordinationDriver. The member file is written
// aside and renamed into the group directory under its exclusive flock, so
// the join is atomic, happens only into an existing group, and only one of
// several coordinators with the same member ID wins.
func (c *conn) JoinGroup(ctx context.Context, group string, caps []byte) error {
	sid, err := c.liveSession(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	tmp, err := c.writeTmp(encodeMember(c.member, sid, record.Member{Capabilities: caps, JoinedAt: now, UpdatedAt: now}))
	if err != nil {
		return err
	}
	defer unix.Unlink(tmp) // gone already when renamed
	g, err := c.lockGroup(ctx, group, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer g.close()
	name := entryName(c.member)
	b, err := readAt(g.fd, name, memberHeaderMax)
	switch {
	case notExist(err):
	case err != nil:
		return ioErr("read a member", err)
	default:
		if m, err := decodeMember(b, false); err == nil {
			if _, alive, err := c.session(m.sid); err != nil {
				return err
			} else if alive {
				return tooz.ErrMemberAlreadyJoined
			}
		}
		// A dead session's (or a foreign) file: the rename replaces it.
	}
	if err := unix.Renameat(unix.AT_FDCWD, tmp, g.fd, name); err != nil {
		return ioErr("join", err)
	}
	c.mu.Lock()
	current := c.sid == sid
	if current && c.groups != nil {
		c.groups[group] = struct{}{}
	}
	c.mu.Unlock()
	if !current {
		// The session was lost while joining: the file names a dead
		// session, and the re-join after the loss may have missed it.
		_ = unix.Unlinkat(g.fd, name, 0)
		return fmt.Errorf("%w: the session was lost while joining", tooz.ErrSessionLost)
	}
	return c.syncDir(g)
}

// memberState is what a member file says about a membership.
type memberState int

const (
	absent memberState = iota // no file (or a foreign one)
	dead                      // a file whose session expired
	alive
)

// readMember reads member's file name in the locked group g and checks its session.
func (c *conn) readMember(g *lockedDir, name, member string, full bool) (memberFile, memberState, error) {
	limit := memberHeaderMax
	if full {
		limit = 0
	}
	b, err := readAt(g.fd, name, limit)
	if notExist(err) {
		return memberFile{}, absent, nil
	}
	if err != nil {
		return memberFile{}, absent, ioErr("read a member", err)
	}
	m, err := decodeMember(b, full)
	if err != nil {
		c.log.Warn("tooz file: ignoring a malformed member file", "file", filepath.Join(g.path, name), "err", err)
		return memberFile{}, absent, nil
	}
	if m.id != member {
		return memberFile{}, absent, nil
	}
	_, ok, err := c.session(m.sid)
	switch {
	case err != nil:
		return memberFile{}, absent, err
	case !ok:
		return m, dead, nil
	}
	return m, alive, nil
}

// LeaveGroup implements tooz.CoordinationDriver.
func (c *conn) LeaveGroup(ctx context.Context, group string) error {
	if err := c.usable(ctx); err != nil {
		return err
	}
	g, err := c.lockGroup(ctx, group, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer g.close()
	name := entryName(c.member)
	_, state, err := c.readMember(g, name, c.member, false)
	if err != nil {
		return err
	}
	if state != absent {
		if err := unix.Unlinkat(g.fd, name, 0); err != nil && err != unix.ENOENT {
			return ioErr("leave", err)
		}
	}
	c.mu.Lock()
	delete(c.groups, group)
	c.mu.Unlock()
	if state != alive {
		return tooz.ErrMemberNotJoined
	}
	return c.syncDir(g)
}

// removeMember removes this member's file from group if it belongs to
// session sid (on Close and after a lost session).
func (c *conn) removeMember(ctx context.Context, group, sid string) error {
	g, err := c.lockGroup(ctx, group, unix.LOCK_EX)
	if errors.Is(err, tooz.ErrGroupNotCreated) {
		return nil
	}
	if err != nil {
		return err
	}
	defer g.close()
	name := entryName(c.member)
	b, err := readAt(g.fd, name, memberHeaderMax)
	if notExist(err) {
		return nil
	}
	if err != nil {
		return ioErr("read a member", err)
	}
	if m, err := decodeMember(b, false); err == nil && m.sid == sid {
		if err := unix.Unlinkat(g.fd, name, 0); err != nil && err != unix.ENOENT {
			return ioErr("leave", err)
		}
	}
	return nil
}

// UpdateCapabilities implements tooz.CoordinationDriver.
func (c *conn) UpdateCapabilities(ctx context.Context, group string, caps []byte) error {
	if err := c.usable(ctx); err != nil {
		return err
	}
	g, err := c.lockGroup(ctx, group, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer g.close()
	name := entryName(c.member)
	m, state, err := c.readMember(g, name, c.member, true)
	if err != nil {
		return err
	}
	if state != alive {
		return tooz.ErrMemberNotJoined
	}
	tmp, err := c.writeTmp(encodeMember(c.member, m.sid, record.Member{
		Capabilities: caps, JoinedAt: m.rec.JoinedAt, UpdatedAt: time.Now(),
	}))
	if err != nil {
		return err
	}
	if err := unix.Renameat(unix.AT_FDCWD, tmp, g.fd, name); err != nil {
		_ = unix.Unlink(tmp)
		return ioErr("update capabilities", err)
	}
	return c.syncDir(g)
}

// MemberInfo implements tooz.CoordinationDriver.
func (c *conn) MemberInfo(ctx context.Context, group, member string) (tooz.MemberInfo, error) {
	if err := c.usable(ctx); err != nil {
		return tooz.MemberInfo{}, err
	}
	g, err := c.lockGroup(ctx, group, unix.LOCK_SH)
	if err != nil {
		return tooz.MemberInfo{}, err
	}
	defer g.close()
	m, state, err := c.readMember(g, entryName(member), member, true)
	if err != nil {
		return tooz.MemberInfo{}, err
	}
	if state != alive {
		return tooz.MemberInfo{}, tooz.ErrMemberNotJoined
	}
	return info(m), nil
}

func info(m memberFile) tooz.MemberInfo {
	return tooz.MemberInfo{ID: m.id, Capabilities: m.rec.Capabilities, JoinedAt: m.rec.JoinedAt, UpdatedAt: m.rec.UpdatedAt, Incarnation: m.sid}
}

// scanned is one entry of a group listing.
type scanned struct {
	name     string
	m        memberFile
	alive    bool
	deadline time.Time
}

// scanGroup lists group under its shared flock, with every member's
// liveness (the capabilities too when full). It fails with ErrGroupNotCreated.
//
// With known, a session this process found alive until a deadline still
// ahead is taken as alive without a look (see procVerdicts): a watch's
// listing may then report the member of a process that died since, whose
// leave follows at that deadline at the latest. Without it, as for
// Members, every session is looked at, and one whose process is gone is
// dead at once.
func (c *conn) scanGroup(ctx context.Context, group string, full, known bool) ([]scanned, error) {
	g, err := c.lockGroup(ctx, group, unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer g.close()
	names, err := g.f.Readdirnames(-1)
	if err != nil {
		return nil, ioErr("list the group", err)
	}
	slices.Sort(names)
	limit := memberHeaderMax
	if full {
		limit = 0
	}
	type verdict struct {
		deadline time.Time
		alive    bool
	}
	sessions := map[string]verdict{}
	out := make([]scanned, 0, len(names))
	for _, n := range names {
		if strings.HasPrefix(n, ".") {
			continue
		}
		b, err := readAt(g.fd, n, limit)
		if notExist(err) {
			continue
		}
		if errors.Is(err, unix.EISDIR) {
			c.log.Warn("tooz file: ignoring a directory among the member files", "file", filepath.Join(g.path, n))
			continue
		}
		if err != nil {
			return nil, ioErr("read a member", err)
		}
		m, err := decodeMember(b, full)
		if err == nil && entryName(m.id) != n {
			err = fmt.Errorf("%w: it holds the ID %q, whose file has another name", errMalformed, m.id)
		}
		if err != nil {
			c.log.Warn("tooz file: ignoring a malformed member file", "file", filepath.Join(g.path, n), "err", err)
			continue
		}
		v, ok := sessions[m.sid]
		if !ok {
			if known {
				v.deadline, v.alive, err = c.sessionNear(m.sid, time.Now(), 0)
			} else {
				v.deadline, v.alive, err = c.session(m.sid)
			}
			if err != nil {
				return nil, err
			}
			sessions[m.sid] = v
		}
		out = append(out, scanned{name: n, m: m, alive: v.alive, deadline: v.deadline})
	}
	return out, nil
}

// Members implements tooz.CoordinationDriver: one snapshot of the group,
// dead sessions' files removed on the way.
func (c *conn) Members(ctx context.Context, group string) ([]tooz.MemberInfo, error) {
	if err := c.usable(ctx); err != nil {
		return nil, err
	}
	list, err := c.scanGroup(ctx, group, true, false)
	if err != nil {
		return nil, err
	}
	out := make([]tooz.MemberInfo, 0, len(list))
	var stale []scanned
	for _, s := range list {
		if s.alive {
			out = append(out, info(s.m))
		} else {
			stale = append(stale, s)
		}
	}
	c.cleanStale(group, stale)
	return out, nil
}

// cleanStale removes the files of dead members, if the group's flock can
// be had at once; otherwise whoever reads the group next does it.
func (c *conn) cleanStale(group string, stale []scanned) {
	if len(stale) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	g, err := c.lockGroup(ctx, group, unix.LOCK_EX)
	if err != nil {
		return
	}
	defer g.close()
	for _, s := range stale {
		b, err := readAt(g.fd, s.name, memberHeaderMax)
		if err != nil {
			continue
		}
		m, err := decodeMember(b, false)
		if err != nil || m.sid != s.m.sid || m.id != s.m.id {
			continue // replaced by a new join meanwhile
		}
		if _, alive, err := c.session(m.sid); err == nil && !alive {
			_ = unix.Unlinkat(g.fd, s.name, 0)
		}
	}
}
