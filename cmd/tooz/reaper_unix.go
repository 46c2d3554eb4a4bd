// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
)

// A command run under a lock must not outlive a tooz killed with SIGKILL
// (or by the out-of-memory killer): the lock is freed when tooz dies, and
// the next tooz would run its command beside the leftover one.
//
// The parent-death signal (Pdeathsig, Linux only) kills the command tooz
// started, but not what that command started in turn (sh -c 'a; b' forks
// a). A subreaper would only adopt those orphans, not stop them, and it
// would have to be tooz itself, which is dead. So tooz starts, beside the
// command, a small watcher: a second tooz process ("reaper") in a process
// group of its own (a terminal's Ctrl-C does not reach it) that ignores
// the terminating signals and reads a pipe whose only writer is tooz. When
// the command has ended, tooz writes "done" and the watcher exits. If tooz
// dies first, the kernel closes the pipe, the watcher reads end-of-file
// without "done", and SIGKILLs the command's whole process group,
// grandchildren included. This works on every Unix; on Linux the
// parent-death signal stays as a second line for the command itself.
//
// What is left: a grandchild that moved to a process group of its own
// (setsid, a daemonizing program) escapes, as it escapes the SIGTERM sent
// when the lock is lost; and if the watcher itself is SIGKILLed, nothing
// stops the group.

// reaperArg is the hidden first argument that makes tooz the watcher.
const reaperArg = "__tooz-reap-group"

// startReaper starts the watcher of process group pgid and returns the
// function that tells it the command ended normally. When the watcher
// cannot start, it returns an error and a finish that does nothing.
func startReaper(pgid int) (finish func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return func() {}, err
	}
	r, w, err := os.Pipe() // close-on-exec: the command does not inherit w
	if err != nil {
		return func() {}, err
	}
	defer r.Close()
	cmd := exec.Command(self, reaperArg, strconv.Itoa(pgid))
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return func() {}, err
	}
	return func() {
		_, _ = io.WriteString(w, "done")
		w.Close()
		_ = cmd.Wait()
	}, nil
}

// runReaper is the watcher: it kills process group pgid unless tooz says
// "done" before closing the pipe on stdin.
func runReaper(pgid string) int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	id, err := strconv.Atoi(pgid)
	if err != nil || id <= 1 {
		return exitUsage
	}
	b, _ := io.ReadAll(os.Stdin)
	if string(b) == "done" {
		return exitOK
	}
	if err := syscall.Kill(-id, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return exitFailure
	}
	return exitOK
}
