// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/record"
)

// maxPlainName is the longest escaped ID used as a file name as is; longer
// ones (up to 3×255 bytes) would pass NAME_MAX and are hashed instead.
const maxPlainName = 200

// entryName returns the file name for id: its escaped form (letters,
// digits, '-', '_', '%XX'), or "=" and its SHA-256 when that is too long.
// Names the driver makes for itself contain a '.', so they never clash.
func entryName(id string) string {
	e := keyspace.Escape(id)
	if len(e) <= maxPlainName {
		return e
	}
	sum := sha256.Sum256([]byte(id))
	return "=" + hex.EncodeToString(sum[:])
}

// isHashed reports whether an entry name is a hash, whose ID is stored elsewhere.
func isHashed(name string) bool { return strings.HasPrefix(name, "=") }

// idFromEntry recovers the ID of an escaped entry name.
func idFromEntry(name string) (string, bool) {
	if isHashed(name) {
		return "", false
	}
	id, err := keyspace.Unescape(name)
	return id, err == nil && id != ""
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Temporary files are named after this process and a counter.
var (
	tmpPrefix = randHex(4) + "-" + strconv.Itoa(os.Getpid())
	tmpSeq    atomic.Uint64
)

// createTmp creates a new empty file in the temporary directory.
func (c *conn) createTmp() (string, int, error) {
	for {
		p := filepath.Join(c.tmpDir, tmpPrefix+"-"+strconv.FormatUint(tmpSeq.Add(1), 10))
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o666)
		if err == unix.EINTR || err == unix.EEXIST {
			continue
		}
		if err != nil {
			return "", -1, ioErr("create a file", &fs.PathError{Op: "open", Path: p, Err: err})
		}
		return p, fd, nil
	}
}

// writeTmp writes b to a new temporary file and returns its path; the
// caller renames it into place (so readers never see it partly written).
func (c *conn) writeTmp(b []byte) (string, error) {
	p, fd, err := c.createTmp()
	if err != nil {
		return "", err
	}
	err = writeAll(fd, b, 0)
	if err == nil && c.sync {
		err = unix.Fsync(fd)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p)
		return "", ioErr("write a file", err)
	}
	return p, nil
}

func writeAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// readAt reads the file name (relative to directory dirfd, or a path with
// unix.AT_FDCWD): its first limit bytes when limit > 0, else all of it.
// The driver's files are never written in place, so the size is final.
func readAt(dirfd int, name string, limit int) ([]byte, error) {
	fd, err := openAt(dirfd, name, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readFD(fd, limit)
}

// readFD reads the open file fd from its start, as readAt does.
func readFD(fd, limit int) ([]byte, error) {
	if limit <= 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, err
		}
		limit = int(st.Size)
	}
	buf := make([]byte, limit)
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(fd, buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

func openAt(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, 0o666)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// readDirNames lists a directory.
func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// Bounds of the wait between attempts at a flock held for a few system
// calls (directory guards).
const (
	shortLockMin = 20 * time.Microsecond
	shortLockMax = 5 * time.Millisecond
)

// flockWait takes a flock (unix.LOCK_SH or unix.LOCK_EX) that its holders
// keep for a few system calls: it retries non-blocking attempts with a
// short backoff until ctx ends, so that a stopped holder cannot hang it.
func flockWait(ctx context.Context, fd, how int) error {
	d := shortLockMin
	var t *time.Timer
	for {
		err := unix.Flock(fd, how|unix.LOCK_NB)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EWOULDBLOCK:
		default:
			return err
		}
		if t == nil {
			t = time.NewTimer(d)
			defer t.Stop()
		} else {
			t.Reset(d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		d = min(2*d, shortLockMax)
	}
}

// lockedDir is a directory opened and flocked.
type lockedDir struct {
	f    *os.File
	fd   int
	path string
}

func (d *lockedDir) close() { _ = d.f.Close() } // closing frees the flock

// lockDir opens dir and flocks it.
func lockDir(ctx context.Context, dir string, how int) (*lockedDir, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	if err := flockWait(ctx, fd, how); err != nil {
		_ = f.Close()
		return nil, err
	}
	return &lockedDir{f: f, fd: fd, path: dir}, nil
}

// samePath reports whether path still names the file open as fd.
func samePath(fd int, path string) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(fd, &a); err != nil {
		return false, err
	}
	if err := unix.Stat(path, &b); err != nil {
		if err == unix.ENOENT {
			return false, nil
		}
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// A member file: "tzf1", the lengths of the member ID and of the session
// ID (one byte each), both IDs, then the internal/record encoding.
const memberMagic = "tzf1"

// recordHeader is the length of the internal/record encoding without capabilities.
var recordHeader = len(record.Encode(record.Member{}))

// memberHeaderMax bounds the header: enough to read both IDs and the
// record's times without the capabilities.
var memberHeaderMax = len(memberMagic) + 2 + 255 + 255 + recordHeader

func encodeMember(id, sid string, m record.Member) []byte {
	rec := record.Encode(m)
	b := make([]byte, 0, len(memberMagic)+2+len(id)+len(sid)+len(rec))
	b = append(b, memberMagic...)
	b = append(b, byte(len(id)), byte(len(sid)))
	b = append(b, id...)
	b = append(b, sid...)
	return append(b, rec...)
}

// memberFile is a decoded member file; rec holds the capabilities only
// when read in full.
type memberFile struct {
	id, sid string
	rec     record.Member
}

// sameMembership reports whether two reads of a member file show one
// membership: a leave and a re-join (or a dead membership replaced) make
// a new one, an update of the capabilities does not.
func (m memberFile) sameMembership(o memberFile) bool {
	return m.sid == o.sid && m.rec.JoinedAt.Equal(o.rec.JoinedAt)
}

var errMalformed = errors.New("malformed member file")

func decodeMember(b []byte, full bool) (memberFile, error) {
	h := len(memberMagic) + 2
	if len(b) < h || string(b[:len(memberMagic)]) != memberMagic {
		return memberFile{}, errMalformed
	}
	il, sl := int(b[h-2]), int(b[h-1])
	if il == 0 || len(b) < h+il+sl {
		return memberFile{}, errMalformed
	}
	m := memberFile{id: string(b[h : h+il]), sid: string(b[h+il : h+il+sl])}
	if tooz.ValidateID(m.id) != nil {
		return memberFile{}, errMalformed
	}
	rest := b[h+il+sl:]
	if !full && len(rest) > recordHeader {
		rest = rest[:recordHeader]
	}
	rec, err := record.Decode(rest)
	if err != nil {
		return memberFile{}, fmt.Errorf("%w: %w", errMalformed, err)
	}
	m.rec = rec
	return m, nil
}
