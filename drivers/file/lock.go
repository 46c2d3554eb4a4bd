// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// A lock file holds the record of its holder, written only under the flock:
// "tzl1", the fencing token (big-endian uint64), a CRC-32C of what follows
// it, the holder's PID (uint32) and PID namespace (uint64), then the member
// ID's length (one byte) and the ID. The holder then shows that it is alive
// with a mark readers can test without taking the flock: an OFD lock on the
// file's first byte (Linux), or elsewhere a fresh owner file "L.o" (magic
// "tzo1", token, member ID) that it keeps flocked and renames into place.
// Waiters watch the recorded process, so that its death wakes them at once.
const (
	lockMagic   = "tzl1"
	lockHeader  = len(lockMagic) + 8 + 4 + 4 + 8 + 1
	ownerMagic  = "tzo1"
	ownerSuffix = ".o"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Bounds of a waiter's backoff between attempts when no release event
// arrives: a holder that dies frees its flock without notifying anyone.
const (
	waitMin = 5 * time.Millisecond
	waitMax = 50 * time.Millisecond
)

// fallbackPoll is the polling interval when inotify cannot be used.
const fallbackPoll = 50 * time.Millisecond

func (c *conn) resDir(k tooz.ResourceKind) string {
	if k == tooz.KindElection {
		return c.electDir
	}
	return c.locksDir
}

// Acquire implements tooz.CoordinationDriver with flock(2): every call opens
// the lock file anew, so it is its own contender, even within one process.
func (c *conn) Acquire(ctx context.Context, res tooz.Resource, wait bool) (tooz.Ownership, error) {
	if err := c.usable(ctx); err != nil {
		return nil, err
	}
	dir, name := c.resDir(res.Kind), entryName(res.Name)
	path := filepath.Join(dir, name)
	fd, err := openAt(unix.AT_FDCWD, path, unix.O_RDWR|unix.O_CREAT)
	if err != nil {
		return nil, ioErr("open the lock", err)
	}
	return c.contend(ctx, fd, dir, name, wait)
}

// contend takes the flock on fd and makes the ownership. It owns fd: the
// ownership keeps it, or contend closes it.
func (c *conn) contend(ctx context.Context, fd int, dir, name string, wait bool) (_ *ownership, err error) {
	held := false
	defer func() {
		if err != nil && !held {
			_ = unix.Close(fd)
		}
	}()
	path := filepath.Join(dir, name)
	ceiling := waitMax
	if c.poll > 0 {
		ceiling = c.poll
	}
	backoff := waitMin
	var (
		t      *time.Timer
		sub    *sub
		holder *exitWatch
		exited int // the last holder process seen exiting
	)
	defer func() {
		if t != nil {
			t.Stop()
		}
		if sub != nil {
			sub.close()
		}
		if holder != nil {
			holder.stop()
		}
	}()
	for transitions := 0; ; {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err == unix.EINTR {
			continue
		}
		if err != unix.EWOULDBLOCK {
			return nil, ioErr("lock", err)
		}
		if !wait {
			// Held. Unless its holder's mark is up, another contender is
			// between taking the flock and marking, or between unmarking
			// and letting go: both take microseconds.
			if held, _ := c.holderAlive(fd, path); held || transitions == 5 {
				return nil, tooz.ErrNotAcquired
			}
			if !driverkit.Sleep(ctx, time.Duration(50<<transitions)*time.Microsecond) {
				return nil, ctx.Err()
			}
			transitions++
			continue
		}
		if sub == nil && c.poll == 0 {
			// Waiting: follow the lock file's changes, then try once more,
			// in case the release came before the subscription.
			sub = c.notif.subscribe(func(_, n string, op fsnotify.Op) bool {
				return n == name && op&(fsnotify.Chmod|fsnotify.Create|fsnotify.Remove) != 0
			}, dir)
			if sub.polling {
				ceiling = fallbackPoll
			}
			continue
		}
		// Watch the holder's process: a holder that dies notifies nobody,
		// but its death frees the flock. Try again once the watch is set,
		// in case it died before.
		if w := watchHolder(fd, holder, exited); w != holder {
			holder = w
			if holder != nil {
				continue
			}
		}
		var died <-chan struct{}
		if holder != nil {
			died = holder.exited
		}
		d := backoff/2 + rand.N(backoff/2+1) // jitter, so that waiters do not beat in step
		if t == nil {
			t = time.NewTimer(d)
		} else {
			t.Reset(d)
		}
		var events <-chan struct{}
		if sub != nil {
			events = sub.ch
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, tooz.ErrClosed
		case <-events:
			sub.take()
			backoff = waitMin
		case <-died:
			exited = holder.pid
			holder.stop()
			holder = nil
			backoff = waitMin
		case <-t.C:
			backoff = min(2*backoff, ceiling)
		}
	}
	token, err := c.writeRecord(fd)
	if err != nil {
		return nil, err
	}
	ofd := -1
	if ofdMarks {
		if err := setMark(fd, markSet); err != nil {
			return nil, ioErr("mark the lock", err)
		}
		// Setting the mark makes no inotify event: write the magic again
		// (the same bytes), so that owner watches (WatchOwner) see the new
		// owner. A write event wakes no waiter: they follow attributes,
		// creates and removes.
		_, _ = unix.Pwrite(fd, []byte(lockMagic), 0)
	} else if ofd, err = c.publishOwner(path+ownerSuffix, token); err != nil {
		return nil, err
	}
	o := &ownership{c: c, path: path, fd: fd, ownerFD: ofd, token: token, Hold: driverkit.NewHold()}
	held = true // from here o closes fd
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		o.end(true)
		return nil, tooz.ErrClosed
	}
	c.owns[o] = struct{}{}
	c.mu.Unlock()
	return o, nil
}

// writeRecord increments the fencing token of the lock file fd, whose
// flock the caller holds, and records this member as the holder, in one
// write: the token only ever goes up, across processes.
func (c *conn) writeRecord(fd int) (uint64, error) {
	var h [lockHeader]byte
	n, err := unix.Pread(fd, h[:], 0)
	for err == unix.EINTR {
		n, err = unix.Pread(fd, h[:], 0)
	}
	if err != nil {
		return 0, ioErr("read the fencing token", err)
	}
	var token uint64
	switch {
	case n == 0:
	case n == len(h) && string(h[:len(lockMagic)]) == lockMagic:
		token = binary.BigEndian.Uint64(h[len(lockMagic):])
	default:
		return 0, fmt.Errorf("%w: the lock file holds foreign data", tooz.ErrConnection)
	}
	token++
	b := make([]byte, lockHeader, lockHeader+len(c.member))
	copy(b, lockMagic)
	binary.BigEndian.PutUint64(b[4:], token)
	binary.BigEndian.PutUint32(b[16:], uint32(os.Getpid()))
	binary.BigEndian.PutUint64(b[20:], pidNamespace)
	b[28] = byte(len(c.member))
	b = append(b, c.member...)
	binary.BigEndian.PutUint32(b[12:], recordSum(b))
	if err := writeAll(fd, b, 0); err != nil {
		return 0, ioErr("write the fencing token", err)
	}
	if c.sync {
		if err := unix.Fsync(fd); err != nil {
			return 0, ioErr("sync the fencing token", err)
		}
	}
	return token, nil
}

// recordSum is the checksum of a lock record, which detects a record read
// while the next holder was writing it.
func recordSum(b []byte) uint32 {
	sum := crc32.Update(0, castagnoli, b[4:12])
	return crc32.Update(sum, castagnoli, b[16:])
}

// holderRecord is what a lock file says about its last holder.
type holderRecord struct {
	id    string
	pid   int
	pidNS uint64
}

// readRecord reads the record of an open lock file.
func readRecord(fd int) (holderRecord, bool) {
	b, err := readFD(fd, lockHeader+255)
	if err != nil || len(b) < lockHeader || string(b[:len(lockMagic)]) != lockMagic {
		return holderRecord{}, false
	}
	n := int(b[28])
	if len(b) < lockHeader+n {
		return holderRecord{}, false
	}
	b = b[:lockHeader+n]
	if binary.BigEndian.Uint32(b[12:]) != recordSum(b) {
		return holderRecord{}, false
	}
	return holderRecord{
		id:    string(b[lockHeader:]),
		pid:   int(binary.BigEndian.Uint32(b[16:])),
		pidNS: binary.BigEndian.Uint64(b[20:]),
	}, true
}

// watchHolder returns a watch on the process recorded as the holder of the
// lock file fd, reusing w when it already watches that process; nil when
// the holder is this process, a process of another PID namespace, or
// exited, the process already seen exiting (then the flock is held by
// something that keeps no record, such as flock(1) run by hand).
func watchHolder(fd int, w *exitWatch, exited int) *exitWatch {
	rec, ok := readRecord(fd)
	if !ok || pidNamespace == 0 || rec.pidNS != pidNamespace || rec.pid == os.Getpid() || rec.pid <= 0 || rec.pid == exited {
		if w != nil {
			w.stop()
		}
		return nil
	}
	if w != nil {
		if w.pid == rec.pid {
			return w
		}
		w.stop()
	}
	return watchExit(rec.pid)
}

// holderAlive reports whether the holder of the lock file open as fd at
// path has marked it (so it is not merely between taking the flock and
// marking, or between unmarking and letting go).
func (c *conn) holderAlive(fd int, path string) (bool, error) {
	if ofdMarks {
		return marked(fd)
	}
	_, held := ownerHeld(path + ownerSuffix)
	return held, nil
}

// ownerOf returns the member ID of the live holder of the lock at path.
func ownerOf(path string) (string, bool) {
	if !ofdMarks {
		return ownerHeld(path + ownerSuffix)
	}
	fd, err := openAt(unix.AT_FDCWD, path, unix.O_RDONLY)
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	for range 10 {
		if held, err := marked(fd); err != nil || !held {
			return "", false
		}
		// The mark is set after the record is written, so the record is
		// the marker's, or a newer holder's being written: then retry.
		if rec, ok := readRecord(fd); ok {
			return rec.id, true
		}
	}
	return "", false
}

// publishOwner writes a new owner file, flocks it and renames it into
// place; the returned descriptor keeps the flock for as long as the lock is held.
func (c *conn) publishOwner(path string, token uint64) (int, error) {
	tmp, fd, err := c.createTmp()
	if err != nil {
		return -1, err
	}
	fail := func(err error) (int, error) {
		_ = unix.Close(fd)
		_ = unix.Unlink(tmp)
		return -1, ioErr("publish the owner", err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(err)
	}
	b := make([]byte, 0, len(ownerMagic)+8+len(c.member))
	b = append(b, ownerMagic...)
	b = binary.BigEndian.AppendUint64(b, token)
	b = append(b, c.member...)
	if err := writeAll(fd, b, 0); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	return fd, nil
}

// ownerHeld reads an owner file and reports whether its writer still holds
// the lock (keeps the file flocked), with the member ID it names. It takes
// a shared flock only on owner files, which contenders never lock, so it
// never makes a contender fail.
func ownerHeld(path string) (string, bool) {
	fd, err := openAt(unix.AT_FDCWD, path, unix.O_RDONLY)
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB); err != unix.EWOULDBLOCK {
		return "", false // nobody holds it: its writer released or died
	}
	b, err := readFD(fd, 0)
	if err != nil || len(b) < len(ownerMagic)+8 || string(b[:len(ownerMagic)]) != ownerMagic {
		return "", false
	}
	return string(b[len(ownerMagic)+8:]), true
}

// Owner implements tooz.CoordinationDriver: the member recorded as holder,
// if the holder's mark shows it still holds the lock.
func (c *conn) Owner(ctx context.Context, res tooz.Resource) (string, error) {
	if err := c.usable(ctx); err != nil {
		return "", err
	}
	id, ok := ownerOf(filepath.Join(c.resDir(res.Kind), entryName(res.Name)))
	if !ok || id == "" {
		return "", tooz.ErrNoLeader
	}
	return id, nil
}

// ownership is one held flock. A flock cannot be lost while its
// descriptor is open, so Lost closes only on Release, Close, Abandon and
// when the session is lost.
type ownership struct {
	*driverkit.Hold // Lost, OnLost
	c               *conn
	path            string
	fd              int // the lock file, flocked (and marked)
	ownerFD         int // the published owner file, flocked; -1 with OFD marks
	token           uint64
	// share is set for a semaphore or read/write lock contender file
	// (shared.go), named name in that directory: given back when given up
	// (not when its process dies: others find it unlocked and remove it).
	share *shareDir
	name  string
	idle  string // the file's name when given back
	alone bool   // it held with no live contender ahead (sharedir.go)

	mu    sync.Mutex
	ended bool
}

// FencingToken implements tooz.Ownership.
func (o *ownership) FencingToken() uint64 { return o.token }

// Release implements tooz.Ownership.
func (o *ownership) Release(context.Context) error {
	if !o.end(true) {
		return tooz.ErrLockNotHeld
	}
	o.c.mu.Lock()
	delete(o.c.owns, o)
	o.c.mu.Unlock()
	return nil
}

// end gives the lock up, once: first the mark (Owner then reports
// nobody), then the flock. Closing the lock file drops both, the OFD mark
// first (the kernel removes a file's OFD locks before its flocks), as it
// does when the holder dies. With notify it then touches the lock file,
// which wakes the waiters at once; a crash (Abandon) does not.
func (o *ownership) end(notify bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended {
		return false
	}
	o.ended = true
	o.End()
	if o.ownerFD >= 0 {
		_ = unix.Close(o.ownerFD)
	}
	if o.share != nil {
		if notify {
			o.c.giveBack(o.share, idleFile{fd: o.fd, name: o.idle}, o.name, o.token, o.alone) // a rename: an inotify event for the waiters
		} else {
			_ = unix.Close(o.fd)
		}
		o.c.putShareDir(o.share)
		return true
	}
	_ = unix.Close(o.fd)
	if notify {
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, o.path, nil, 0)
	}
	return true
}
