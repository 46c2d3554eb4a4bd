//go:build unix && !linux

package main

import "syscall"

// setParentDeathSignal does nothing: only Linux can signal a command when tooz dies.
func setParentDeathSignal(*syscall.SysProcAttr) {}
