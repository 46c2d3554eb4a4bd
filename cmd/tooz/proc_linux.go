// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import "syscall"

// setParentDeathSignal has the kernel SIGKILL the command if tooz dies
// (kill -9, out of memory): nobody would stop it when the lock expires.
// The kernel ties this to the thread that forks; the Go runtime does not
// end its threads, except one whose goroutine exits while locked to it,
// which the goroutine that starts the command never does.
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
