// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"unsafe"
)

// terminating are the signals that stop tooz, after its command when one runs.
var terminating = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// forwarded are the signals only passed on to the command.
var forwarded = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2}

// Signals tooz sends to its command.
var (
	sigTerm os.Signal = syscall.SIGTERM
	sigKill os.Signal = syscall.SIGKILL
	sigInt  os.Signal = syscall.SIGINT
	sigQuit os.Signal = syscall.SIGQUIT
)

// prepareChild makes cmd run in a process group of its own, so that a
// signal reaches everything it starts. When stdin is a terminal whose
// foreground process group is tooz's, the terminal is handed to the
// command's group (it can read from it, and Ctrl-C reaches it directly);
// prepareChild then reports true and reclaimTerminal must be called once the
// command has ended.
func prepareChild(cmd *exec.Cmd) (foreground bool) {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if tty, ok := foregroundTerminal(); ok {
		attr.Foreground = true
		attr.Ctty = tty
		foreground = true
	}
	setParentDeathSignal(attr)
	cmd.SysProcAttr = attr
	return foreground
}

// foregroundTerminal returns stdin's descriptor when stdin is a terminal
// whose foreground process group is tooz's own.
func foregroundTerminal() (int, bool) {
	fd := int(os.Stdin.Fd())
	var pgrp int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(syscall.TIOCGPGRP), uintptr(unsafe.Pointer(&pgrp))); errno != 0 {
		return 0, false // not a terminal, or no controlling terminal
	}
	return fd, int(pgrp) == syscall.Getpgrp()
}

// reclaimTerminal makes tooz's process group the terminal's foreground
// group again, after a command that had it has ended.
func reclaimTerminal() {
	// A background process that sets the foreground group gets SIGTTOU
	// unless it ignores it; ignore it only for this call, so that later
	// commands do not inherit the disposition.
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	pgrp := int32(syscall.Getpgrp())
	_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, os.Stdin.Fd(), uintptr(syscall.TIOCSPGRP), uintptr(unsafe.Pointer(&pgrp)))
}

// signalChild sends s to the command's process group, and to the command
// itself should the group be gone (it may have left it).
func signalChild(p *os.Process, s os.Signal) error {
	sig, ok := s.(syscall.Signal)
	if !ok {
		return p.Signal(s)
	}
	if err := syscall.Kill(-p.Pid, sig); err == nil {
		return nil
	}
	return p.Signal(s)
}

// exitStatus returns the status to report for a finished command: its exit
// code, or 128+S when signal S killed it, and a description.
func exitStatus(ps *os.ProcessState) (int, string) {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), "was killed by " + signalName(ws.Signal())
	}
	return ps.ExitCode(), "exited with status " + strconv.Itoa(ps.ExitCode())
}

// killedBy returns the signal that killed the command, or nil.
func killedBy(ps *os.ProcessState) os.Signal {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return nil
}

func signalNumber(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return int(n)
	}
	return 0
}

// signalName returns "SIGTERM" for syscall.SIGTERM.
func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	}
	if n, ok := s.(syscall.Signal); ok {
		return "signal " + strconv.Itoa(int(n))
	}
	return s.String()
}
