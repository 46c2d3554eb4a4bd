// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package file

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pidNamespace identifies this process's PID namespace: a PID recorded by
// a holder means the same process to a waiter only within one namespace.
var pidNamespace = func() uint64 {
	s, err := os.Readlink("/proc/self/ns/pid") // "pid:[4026531836]"
	if err != nil || !strings.HasPrefix(s, "pid:[") || !strings.HasSuffix(s, "]") {
		return 0
	}
	n, err := strconv.ParseUint(s[len("pid:["):len(s)-1], 10, 64)
	if err != nil {
		return 0
	}
	return n
}()

// exitWatch reports when a process exits, through a pidfd (Linux ≥ 5.3)
// waited on by the Go netpoller.
type exitWatch struct {
	pid    int
	exited chan struct{} // closed when the process exited
	f      *os.File
	done   chan struct{}
}

// watchExit starts watching process pid. It returns nil when it cannot
// (old kernel, no such permission): the waiter's backoff covers that.
func watchExit(pid int) *exitWatch {
	w := &exitWatch{pid: pid, exited: make(chan struct{}), done: make(chan struct{})}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err == unix.EINVAL { // before Linux 5.10
		if fd, err = unix.PidfdOpen(pid, 0); err == nil {
			err = unix.SetNonblock(fd, true)
			if err != nil {
				_ = unix.Close(fd)
			}
		}
	}
	if err == unix.ESRCH { // gone already
		close(w.exited)
		close(w.done)
		return w
	}
	if err != nil {
		return nil
	}
	w.f = os.NewFile(uintptr(fd), "pidfd")
	rc, err := w.f.SyscallConn()
	if err != nil {
		_ = w.f.Close()
		return nil
	}
	go func() {
		defer close(w.done)
		first := true
		// A pidfd becomes readable when its process exits.
		err := rc.Read(func(uintptr) bool {
			if first {
				first = false
				return false
			}
			return true
		})
		if err == nil {
			close(w.exited)
		}
	}()
	return w
}

// stop ends the watch and waits for its goroutine.
func (w *exitWatch) stop() {
	if w.f != nil {
		_ = w.f.Close()
	}
	<-w.done
}
