// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package file

// pidNamespace is 0: waiters do not watch holders' processes here.
var pidNamespace uint64

// exitWatch is not available on this platform.
type exitWatch struct {
	pid    int
	exited chan struct{}
}

func watchExit(int) *exitWatch { return nil }

func (w *exitWatch) stop() {}
