// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package file

import "golang.org/x/sys/unix"

// ofdMarks is false: without open file description locks, holders publish
// a flocked owner file instead.
var ofdMarks = false

func setMark(int, int16) error { return unix.ENOSYS }

func marked(int) (bool, error) { return false, unix.ENOSYS }

// markSet is unused here.
const markSet = 0
