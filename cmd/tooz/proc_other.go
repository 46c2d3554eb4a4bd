// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package main

import (
	"os"
	"os/exec"
	"strconv"
)

// terminating are the signals that stop tooz, after its command when one runs.
var terminating = []os.Signal{os.Interrupt}

// forwarded are the signals only passed on to the command.
var forwarded []os.Signal

// Signals tooz sends to its command: without Unix signals, both kill it.
var (
	sigTerm os.Signal = os.Kill
	sigKill os.Signal = os.Kill
	sigInt  os.Signal = os.Interrupt
	sigQuit os.Signal = os.Interrupt
)

// prepareChild does nothing: process groups and terminals are Unix's.
func prepareChild(*exec.Cmd) bool { return false }

func reclaimTerminal() {}

func signalChild(p *os.Process, s os.Signal) error { return p.Signal(s) }

func exitStatus(ps *os.ProcessState) (int, string) {
	return ps.ExitCode(), "exited with status " + strconv.Itoa(ps.ExitCode())
}

func killedBy(*os.ProcessState) os.Signal { return nil }

func signalNumber(os.Signal) int { return 2 }

func signalName(s os.Signal) string { return s.String() }
