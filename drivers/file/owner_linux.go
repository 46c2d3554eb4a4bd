// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package file

import (
	"io"

	"golang.org/x/sys/unix"
)

// ofdMarks says whether holders mark the lock file with an open file
// description lock (Linux ≥ 3.15) rather than publishing a flocked owner
// file. Every process of a host decides alike, since it depends only on
// the kernel.
var ofdMarks = probeOFD()

func probeOFD() bool {
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Len: 1}
	return unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk) != unix.EINVAL
}

// setMark sets the holder's mark (typ markSet): an OFD lock on the lock
// file's first byte. Like the flock it belongs to the open file description
// and dies with it, but readers can test it without taking it, so they
// never get in a contender's way.
func setMark(fd int, typ int16) error {
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart, Len: 1}
	for {
		err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}

// marked reports whether some open file description holds the mark.
func marked(fd int) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Len: 1}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk); err != nil {
		return false, err
	}
	return lk.Type != unix.F_UNLCK, nil
}

// markSet is the lock type of a set mark.
const markSet = unix.F_WRLCK
