// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/testutil"
)

// TestKVForeignData: files in the key directory that tooz did not write
// (no header, a bad header, a key that is no ID, a session that is no
// session, a directory) are skipped, with a log line.
func TestKVForeignData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := testutil.Open(t, 10*time.Second, "file://"+t.TempDir(), "a")
	dir := c.Driver().(*conn).kvDir()
	testutil.CheckKVForeign(t, ctx, c, func() {
		for name, content := range map[string]string{
			"garbage":   "hello",
			"badheader": "tooz-kv1 x y z\nkey",
			"badkey":    "tooz-kv1 1 - 2\n\xff\xfevalue",
			"badsid":    "tooz-kv1 1 ../../etc 1\nkvalue",
			"toolong":   "tooz-kv1 1 - 99\nk",
		} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDecodeKV: no input makes the key file decoder panic, and what it
// accepts encodes to a file that decodes to the same key, value,
// revision and session.
func FuzzDecodeKV(f *testing.F) {
	f.Add(encodeKV("k", 1, "", []byte("v")))
	f.Add(encodeKV("a/b", 99, "0123456789abcdef-2000000000", nil))
	f.Add([]byte("tooz-kv1 1 - 3\nab"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := decodeKV(b)
		if err != nil {
			return
		}
		again, err := decodeKV(encodeKV(kf.kv.Key, kf.kv.Revision, kf.sid, kf.kv.Value))
		if err != nil || again.kv.Key != kf.kv.Key || string(again.kv.Value) != string(kf.kv.Value) ||
			again.kv.Revision != kf.kv.Revision || again.sid != kf.sid || again.kv.Ephemeral != kf.kv.Ephemeral {
			t.Fatalf("%q decodes to %+v, its re-encoding to %+v (%v)", b, kf, again, err)
		}
	})
}
