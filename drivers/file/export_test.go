// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"path/filepath"

	"github.com/toozgo/tooz"
)

// Hooks for the external tests.

// EntryName exposes entryName.
var EntryName = entryName

// SessionFile returns the path of c's current session file ("" if none).
func SessionFile(c *tooz.Coordinator) string {
	d := c.Driver().(*conn)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sid == "" {
		return ""
	}
	return d.sessPath(d.sid)
}

// GroupDir returns the directory of group in c's namespace.
func GroupDir(c *tooz.Coordinator, group string) string {
	return filepath.Join(c.Driver().(*conn).groupsDir, entryName(group))
}

// UseOFDMarks switches how lock holders show they are alive (see lock.go)
// and returns the previous setting. Every process on a directory must use
// the same; tests switch it only for in-process runs on a fresh directory.
func UseOFDMarks(on bool) bool {
	old := ofdMarks
	ofdMarks = on
	return old
}
