// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build unix && !linux

package main

import "syscall"

// setParentDeathSignal does nothing: only Linux can signal a command when tooz dies.
func setParentDeathSignal(*syscall.SysProcAttr) {}
