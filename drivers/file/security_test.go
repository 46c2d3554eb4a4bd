// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/record"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestForeignData complements TestForeignFilesIgnored (a file of plain
// text among members): entries in the groups directory that are no
// escaped names, member files that are truncated, name another ID than
// their file, name a session outside the sessions directory or one that
// does not exist, directories where files belong, garbage in the sessions,
// locks and elections directories. Listings, watches, locks and elections
// ignore them (with a log line) or fail with an error, never panic and
// never report a wrong member.
func TestForeignData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	var logs testutil.LogBuffer
	u := "file://" + dir
	a := testutil.Open(t, 10*time.Second, u, "a", tooz.WithTimeout(2*time.Second), tooz.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	d := a.Driver().(*conn)
	d.mu.Lock()
	liveSID := d.sid
	d.mu.Unlock()
	g := "G"
	if err := a.JoinGroupCreate(ctx, g, []byte("caps-a")); err != nil {
		t.Fatal(err)
	}
	joined := make(chan string, 16)
	w, err := a.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) { joined <- e.Member })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	write := func(p string, b []byte) {
		t.Helper()
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mkdir := func(p string) {
		t.Helper()
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(dir, "outside-session")
	write(outside, nil) // a "session" a traversal would find alive
	rec := record.Member{Capabilities: []byte("forged"), JoinedAt: time.Now(), UpdatedAt: time.Now()}
	gdir := filepath.Join(d.groupsDir, entryName(g))
	mkdir(filepath.Join(d.groupsDir, "not.escaped"))
	mkdir(filepath.Join(d.groupsDir, "%FF"))
	write(filepath.Join(d.groupsDir, "plain-file"), []byte("x"))
	full := encodeMember("truncated", liveSID, rec)
	write(filepath.Join(gdir, "truncated"), full[:12]) // the session ID cut short
	write(filepath.Join(gdir, "mismatch"), encodeMember("other-id", liveSID, rec))
	write(filepath.Join(gdir, "traversal"), encodeMember("traversal", "../../outside-session", rec))
	write(filepath.Join(gdir, "dead"), encodeMember("dead", newSID(time.Hour), rec))
	write(filepath.Join(gdir, "empty"), nil)
	write(filepath.Join(gdir, "%FF"), encodeMember("\xff", liveSID, rec))
	mkdir(filepath.Join(gdir, "subdir"))
	write(filepath.Join(d.sessDir, "junk"), []byte("junk"))
	mkdir(filepath.Join(d.sessDir, "junkdir"))

	// A member that really joins after the garbage: its event must be the
	// first one the watch reports.
	b := testutil.Open(t, 10*time.Second, u, "b", tooz.WithTimeout(2*time.Second))
	if err := b.JoinGroup(ctx, g, []byte("caps-b")); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFirstJoin(t, joined, "b", 20*time.Second)
	testutil.CheckOnlyAB(t, ctx, a, g)
	for _, m := range []string{"truncated", "mismatch", "traversal", "dead", "empty", "other-id", "subdir"} {
		if info, err := a.MemberInfo(ctx, g, m); err == nil {
			t.Fatalf("MemberInfo(%q) = %+v, want an error", m, info)
		}
	}
	if !strings.Contains(logs.String(), "ignoring") {
		t.Fatalf("no log line about the ignored entries:\n%s", logs.String())
	}
	if _, err := a.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat beside garbage in the sessions directory: %v", err)
	}

	// Lock and election files holding garbage: an error or no owner,
	// never a panic or a garbage owner.
	write(filepath.Join(d.locksDir, entryName("l")), []byte("\xffgarbage that is no lock record"))
	ok, err := a.Lock("l").TryAcquire(ctx)
	t.Logf("TryAcquire of a lock file holding garbage: %v, %v", ok, err)
	if owner, err := a.Lock("l").Owner(ctx); err == nil && tooz.ValidateID(owner) != nil {
		t.Fatalf("Owner of a lock file holding garbage = %q", owner)
	}
	write(filepath.Join(d.electDir, entryName(g)), []byte("\x00\x01"))
	if leader, err := a.Leader(ctx, g); err == nil && tooz.ValidateID(leader) != nil {
		t.Fatalf("Leader of an election file holding garbage = %q", leader)
	}
}
