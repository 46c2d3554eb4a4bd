// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/sharerec"
)

// Semaphores and read/write locks (tooz.SharedAcquirer).
//
// A semaphore (read/write lock) is a directory NS/semaphores/S
// (NS/rwlocks/L) holding a ticket counter, ".seq", and one file per
// contender named TICKET-MODE (twenty decimal digits, then "s" and the
// number of permits, 0 for a read/write lock, or "x0" for an exclusive
// contender), whose content is the member ID. A contender takes its ticket
// under an exclusive flock of .seq, writes its file in the temporary
// directory, flocks it exclusively and renames it into place; it keeps the
// flock for as long as it contends or holds, so a contender file that can
// be flocked by anyone else belongs to a dead process, and whoever finds
// it so removes it. The queue is in ticket order, tooz.Share.Holds decides
// who holds, and the ticket is the fencing token (.seq is never removed, so
// tickets never repeat). Waiters follow the directory with inotify, and
// re-read it with a backoff of at most 50ms for contenders that died. Files
// whose name does not parse are ignored with a log line (hidden ones
// silently); an operator removes one with rm.

const (
	seqFile = ".seq"
)

func (c *conn) sharedDir(res tooz.Resource) string {
	return filepath.Join(c.ns, sharerec.Space(res.Kind), entryName(res.Name))
}

// contenderName is the file name of a contender with ticket t and share sh.
func contenderName(t uint64, sh tooz.Share) string {
	if sh.Exclusive {
		return fmt.Sprintf("%020d-x0", t)
	}
	return fmt.Sprintf("%020d-s%d", t, sh.Limit)
}

// fentry is one contender file of a listing.
type fentry struct {
	name   string
	ticket uint64
	share  tooz.Share
}

// parseContender parses a contender file name.
func parseContender(name string) (fentry, bool) {
	t, mode, ok := strings.Cut(name, "-")
	if !ok || len(t) != 20 || len(mode) < 2 {
		return fentry{}, false
	}
	ticket, err := strconv.ParseUint(t, 10, 64)
	n, nerr := strconv.Atoi(mode[1:])
	if err != nil || nerr != nil || n < 0 || n > tooz.MaxPermits || strconv.Itoa(n) != mode[1:] {
		return fentry{}, false
	}
	e := fentry{name: name, ticket: ticket}
	switch {
	case mode[0] == 'x' && n == 0:
		e.share.Exclusive = true
	case mode[0] == 's':
		e.share.Limit = n
	default:
		return fentry{}, false
	}
	return e, true
}

// contenderAlive reports whether the contender file name of the directory
// dir (open as dirfd, or unix.AT_FDCWD) is flocked by its contender. A
// file nobody holds any more is removed.
func contenderAlive(dirfd int, dir, name string) bool {
	path := name
	if dirfd == unix.AT_FDCWD {
		path = filepath.Join(dir, name)
	}
	fd, err := openAt(dirfd, path, unix.O_RDONLY)
	if err != nil {
		return false // gone
	}
	defer unix.Close(fd)
	for {
		switch err := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB); err {
		case unix.EINTR:
			continue
		case nil:
			// Its contender died (or gave up without removing it).
			_ = unix.Unlinkat(dirfd, path, 0)
			return false
		default:
			return true // EWOULDBLOCK: held
		}
	}
}

// queue lists the live contenders of sd in ticket order, up to and
// including the one named upTo.
func (c *conn) queue(ctx context.Context, sd *shareDir, upTo string, logged map[string]bool) ([]fentry, error) {
	names, err := sd.listTurn(ctx)
	if err != nil {
		return nil, err
	}
	return c.contenders(names, sd.dirfd, sd.path, upTo, logged), nil
}

// contenders returns the live contenders among names, the listing of dir
// (open as dirfd, or unix.AT_FDCWD), in ticket order, up to and including
// the one named upTo (all when upTo is ""), logging the names it ignores.
// Hidden names (the ticket counter, idle contender files) are skipped.
func (c *conn) contenders(names []string, dirfd int, dir, upTo string, logged map[string]bool) []fentry {
	var q []fentry
	var mine *fentry
	for _, n := range names {
		if strings.HasPrefix(n, ".") {
			continue
		}
		e, ok := parseContender(n)
		if !ok {
			if !logged[n] {
				logged[n] = true
				c.log.Warn("tooz file: ignoring a file that is no contender; remove it with rm", "path", filepath.Join(dir, n))
			}
			continue
		}
		if n == upTo {
			mine = &e
			continue
		}
		q = append(q, e)
	}
	slices.SortFunc(q, func(a, b fentry) int { return cmp.Compare(a.ticket, b.ticket) })
	if mine != nil {
		q = slices.DeleteFunc(q, func(e fentry) bool { return e.ticket > mine.ticket })
	}
	q = slices.DeleteFunc(q, func(e fentry) bool { return !contenderAlive(dirfd, dir, e.name) })
	if mine != nil {
		q = append(q, *mine)
	}
	return q
}

// openShared opens the directory of res and takes a ticket in it, making
// the directory again, once, when it was removed from under the conn.
func (c *conn) openShared(ctx context.Context, res tooz.Resource, sh tooz.Share) (*shareDir, string, idleFile, bool, error) {
	path := c.sharedDir(res)
	for again := true; ; again = false {
		sd, err := c.shareDirAt(path)
		if err != nil {
			return nil, "", idleFile{fd: -1}, false, err
		}
		name, f, alone, err := c.enqueue(ctx, sd, sh)
		if err == nil {
			return sd, name, f, alone, nil
		}
		gone := errors.Is(err, errDirGone)
		if gone {
			c.dropShareDir(sd)
			err = ioErr("take a ticket", err) // removed again at once
		}
		c.putShareDir(sd)
		if !gone || !again {
			return nil, "", idleFile{fd: -1}, false, err
		}
	}
}

// AcquireShared implements tooz.SharedAcquirer.
func (c *conn) AcquireShared(ctx context.Context, res tooz.Resource, sh tooz.Share, wait bool) (tooz.Ownership, error) {
	if err := c.usable(ctx); err != nil {
		return nil, err
	}
	sd, name, f, alone, err := c.openShared(ctx, res, sh)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(sd.path, name)
	o := &ownership{c: c, path: path, fd: f.fd, ownerFD: -1, share: sd, name: name, idle: f.name, Hold: driverkit.NewHold()}
	e, _ := parseContender(name)
	o.token = e.ticket
	withdraw := func(err error) (tooz.Ownership, error) {
		o.end(true)
		return nil, err
	}
	logged := map[string]bool{}
	holds := func(first bool) (bool, error) {
		q, err := c.queue(ctx, sd, name, logged)
		if err != nil {
			return false, err
		}
		if len(q) == 0 || q[len(q)-1].name != name {
			return false, fmt.Errorf("%w: the contender file %s vanished", tooz.ErrSessionLost, path)
		}
		o.alone = len(q) == 1
		ahead := make([]tooz.Share, len(q)-1)
		for i := range ahead {
			ahead[i] = q[i].share
		}
		if first {
			if err := sh.Agrees(ahead); err != nil {
				return false, err
			}
		}
		return sh.Holds(ahead), nil
	}
	ok, err := true, error(nil)
	if o.alone = alone; !alone {
		ok, err = holds(true)
	}
	switch {
	case err != nil:
		return withdraw(err)
	case !ok && !wait:
		return withdraw(tooz.ErrNotAcquired)
	}
	if !ok {
		if ok, err = c.waitShared(ctx, sd.path, holds); !ok {
			return withdraw(err)
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return withdraw(tooz.ErrClosed)
	}
	c.owns[o] = struct{}{}
	c.mu.Unlock()
	return o, nil
}

// waitShared evaluates holds whenever dir changes, and at least every
// waitMax (a contender that dies changes nothing), until it holds.
func (c *conn) waitShared(ctx context.Context, dir string, holds func(bool) (bool, error)) (bool, error) {
	ceiling := waitMax
	if c.poll > 0 {
		ceiling = c.poll
	}
	var events <-chan struct{}
	if c.poll == 0 {
		sub := c.notif.subscribe(func(_, n string, op fsnotify.Op) bool {
			return !strings.HasPrefix(n, ".") && op&(fsnotify.Remove|fsnotify.Rename|fsnotify.Create) != 0
		}, dir)
		defer sub.close()
		if sub.polling {
			ceiling = fallbackPoll
		}
		events = sub.ch
		// Read again once the subscription is in place.
		if ok, err := holds(false); ok || err != nil {
			return ok, err
		}
	}
	backoff := waitMin
	t := time.NewTimer(backoff)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-c.done:
			return false, tooz.ErrClosed
		case <-events:
			backoff = waitMin
		case <-t.C:
			backoff = min(2*backoff, ceiling)
		}
		if ok, err := holds(false); ok || err != nil {
			return ok, err
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(backoff/2 + rand.N(backoff/2+1))
	}
}

// Holders implements tooz.SharedAcquirer: the member IDs in the files of
// the live contenders that hold, in ticket order.
func (c *conn) Holders(ctx context.Context, res tooz.Resource) ([]string, error) {
	if err := c.usable(ctx); err != nil {
		return nil, err
	}
	dir := c.sharedDir(res)
	names, err := listNames(dir)
	if err != nil && !notExist(err) {
		return nil, ioErr("list the contenders", err)
	}
	q := c.contenders(names, unix.AT_FDCWD, dir, "", map[string]bool{})
	var (
		ahead []tooz.Share
		ids   []string
	)
	for _, e := range q {
		if e.share.Holds(ahead) {
			b, err := readAt(unix.AT_FDCWD, filepath.Join(dir, e.name), tooz.MaxIDLength+1)
			if err == nil && tooz.ValidateID(string(b)) == nil {
				ids = append(ids, string(b))
			}
		}
		ahead = append(ahead, e.share)
	}
	return ids, nil
}

// listNames lists a directory with plain system calls: a listing per
// evaluation of the queue, kept cheap (os.File would also try to register
// the directory with the runtime's poller).
func listNames(dir string) ([]string, error) {
	fd, err := openAt(unix.AT_FDCWD, dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var (
		names []string
		buf   [8192]byte
	)
	for {
		n, err := unix.ReadDirent(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "readdirent", Path: dir, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}
