// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"bytes"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A coordinator holds a shared flock on its session file for as long as
// the session lives, and says so in the file (heldMark). The kernel drops
// the flock the moment the coordinator's process dies, so a reader that
// can take an exclusive flock on a session file carrying the mark knows
// that its process is gone: the session is dead at once, without waiting
// for its timeout. A member restarted with the same ID after a crash joins
// at once. Session files without the mark (written by an older tooz) are
// judged by their timeout alone.
const heldMark = "held flock\n"

// writeHeldSession writes a session file aside with the shared flock taken,
// so that the file is never without it once renamed into place. It
// returns the file's path and descriptor; the caller keeps the descriptor
// open while the session lives.
func (c *conn) writeHeldSession(body []byte) (string, int, error) {
	p, fd, err := c.createTmp()
	if err != nil {
		return "", -1, err
	}
	fail := func(err error) (string, int, error) {
		unix.Close(fd)
		_ = os.Remove(p)
		return "", -1, ioErr("create the session", err)
	}
	if err := flockRetry(fd, unix.LOCK_SH); err != nil {
		return fail(err)
	}
	if err := writeAll(fd, append(body, heldMark...), 0); err != nil {
		return fail(err)
	}
	if c.sync {
		if err := unix.Fsync(fd); err != nil {
			return fail(err)
		}
	}
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		return fail(err)
	}
	return p, fd, nil
}

func flockRetry(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			return err
		}
	}
}

// ownerGone reports whether the session file p carries heldMark while
// nobody holds its flock: its coordinator's process died.
func ownerGone(p string) bool {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false // gone meanwhile: the caller's next look decides
	}
	defer unix.Close(fd)
	if err := flockRetry(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false // held (EWOULDBLOCK): the owner lives
	}
	buf := make([]byte, 1024)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil || n <= 0 {
		return false
	}
	return bytes.Contains(buf[:n], []byte(heldMark))
}

// dropSessionFD closes the descriptor that holds the session's flock.
// Called with c.mu held.
func (c *conn) dropSessionFDLocked() {
	if c.sessFD >= 0 {
		unix.Close(c.sessFD)
		c.sessFD = -1
	}
}
