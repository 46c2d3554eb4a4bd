// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestSharedForeignFilesIgnored: files in a semaphore's or read/write
// lock's directory whose name is no contender's are ignored with a log
// line; a contender file nobody holds a flock on (its process died) is
// removed: neither is counted as a holder.
func TestSharedForeignFilesIgnored(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	dir := t.TempDir()
	var logs testutil.LogBuffer
	c := open(t, "file://"+dir, "m", tooz.WithLogger(logs.Logger()))
	name := testutil.Unique("foreign")
	var dead []string
	for _, kind := range []string{"semaphores", "rwlocks"} {
		d := filepath.Join(dir, "tooz", kind, name)
		testutil.Must(t, os.MkdirAll(d, 0o777), "mkdir")
		// The counter at 10: the forged contenders are older than ours.
		testutil.Must(t, os.WriteFile(filepath.Join(d, ".seq"), []byte{0, 0, 0, 0, 0, 0, 0, 10}, 0o666), "write the counter")
		for _, n := range []string{"garbage", "00000000000000000001-q1", "00000000000000000002-x3", "00000000000000000003-s01", "00000000000000000004-x0"} {
			testutil.Must(t, os.WriteFile(filepath.Join(d, n), []byte("ghost"), 0o666), "write")
		}
		dead = append(dead, filepath.Join(d, "00000000000000000004-x0"))
	}
	testutil.CheckForeignIgnored(t, ctx, c, name, &logs, "ignoring a file")
	for _, p := range dead {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("a dead contender's file is still there: %v", err)
		}
	}
}
