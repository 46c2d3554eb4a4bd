// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"fmt"
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

// HoldKeyWatches holds c's key watches back until release is called: what
// changes meanwhile reaches them as one difference, as after an inotify
// overflow. For the conformance harness (package file_test).
func HoldKeyWatches(c *tooz.Coordinator) (release func(), err error) {
	d, ok := c.Driver().(*conn)
	if !ok {
		return nil, fmt.Errorf("driver is %T, not the file driver", c.Driver())
	}
	hold := make(chan struct{})
	d.testHoldWatches.Store(&hold)
	return func() {
		d.testHoldWatches.Store(nil)
		close(hold)
		d.mu.Lock()
		defer d.mu.Unlock()
		for w := range d.watches {
			if kw, ok := w.(*kvWatch); ok && kw.sub != nil {
				kw.sub.lostTrack() // as an overflow would: the watch lists again
			}
		}
	}, nil
}
