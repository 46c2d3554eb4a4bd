// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/toozgo/tooz"
)

var idTests = []test{
	{"IDsRoundTrip", testIDsRoundTrip},
	{"InvalidIDsRejectedBeforeIO", testInvalidIDs},
}

// oddIDs returns IDs that stress a driver's escaping, each unique to the
// subtest, the last one exactly MaxIDLength bytes long.
func oddIDs(f *fixture) []string {
	suffixes := []string{"x", "a/b", "a%2Fb", "a/../b", "..", ".", " spaced out ", "ünï cödé ✓", "日本語", "a\x00b", "tab\there", "new\nline", "colon:semi;", `back\slash`, "*?[]{}", "-", "_"}
	var ids []string
	for _, s := range suffixes {
		ids = append(ids, f.prefix+s)
	}
	// One byte after the prefix is covered by "x"; a bare 1-byte ID too.
	long := f.prefix + "-"
	for len(long)+len("é") <= tooz.MaxIDLength {
		long += "é"
	}
	long += strings.Repeat("z", tooz.MaxIDLength-len(long))
	ids = append(ids, long)
	if len(long) != tooz.MaxIDLength || !utf8.ValidString(long) {
		panic("conformance: bad long ID")
	}
	return ids
}

func testIDsRoundTrip(f *fixture) {
	ctx := f.ctx
	ids := oddIDs(f)
	c := f.open(f.name("lister"))
	// Groups with odd names, listed back byte for byte.
	for _, g := range ids {
		f.must(c.CreateGroup(ctx, g), "create group "+quote(g))
	}
	gs, err := c.Groups(ctx)
	f.must(err, "groups")
	var mine []string
	for _, g := range gs {
		if strings.HasPrefix(g, f.prefix) {
			mine = append(mine, g)
		}
	}
	if !slices.Equal(mine, sorted(ids)) {
		f.Fatalf("Groups() returned\n%q\nwant\n%q", mine, sorted(ids))
	}
	// Members with odd IDs, in a group with an odd name.
	g := ids[len(ids)-1]
	for _, id := range ids {
		m := f.open(id)
		f.must(m.JoinGroup(ctx, g, []byte(id)), "join as "+quote(id))
	}
	ms, err := c.Members(ctx, g)
	f.must(err, "members")
	if !slices.Equal(ms, sorted(ids)) {
		f.Fatalf("Members() returned\n%q\nwant\n%q", ms, sorted(ids))
	}
	for _, id := range ids {
		info, err := c.MemberInfo(ctx, g, id)
		f.must(err, "member info of "+quote(id))
		if info.ID != id || string(info.Capabilities) != id {
			f.Fatalf("MemberInfo(%q) = %q with capabilities %q", id, info.ID, info.Capabilities)
		}
	}
	// Locks and elections with odd names: each name is its own lock.
	var locks []*tooz.Lock
	for _, id := range ids {
		l := c.Lock(id)
		ok, err := l.TryAcquire(ctx)
		f.must(err, "try-acquire lock "+quote(id))
		if !ok {
			f.Fatalf("lock %q is held by someone: names collide", id)
		}
		locks = append(locks, l)
	}
	other := f.open(f.name("other"))
	for _, id := range ids {
		ok, err := other.Lock(id).TryAcquire(ctx)
		f.must(err, "try-acquire a held lock "+quote(id))
		if ok {
			f.Fatalf("lock %q acquired twice", id)
		}
	}
	for _, l := range locks {
		f.must(l.Release(ctx), "release "+quote(l.Name()))
	}
	for _, id := range ids[:3] {
		ld, err := c.Campaign(ctx, id)
		f.must(err, "campaign for "+quote(id))
		leader, err := other.Leader(ctx, id)
		f.must(err, "leader of "+quote(id))
		if leader != c.MemberID() {
			f.Fatalf("Leader(%q) = %q, want %q", id, leader, c.MemberID())
		}
		f.must(ld.Resign(ctx), "resign")
	}
}

func quote(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(strings.Clone(s[:40]), "") + "…"
	}
	return `"` + s + `"`
}

func testInvalidIDs(f *fixture) {
	c := f.open(f.name("m"))
	// A closed coordinator refuses all I/O with ErrClosed: getting
	// ErrInvalidID from it proves validation happens before any I/O.
	f.must(c.Close(f.ctx), "close")
	bad := []string{"", "\xff\xfe", strings.Repeat("x", tooz.MaxIDLength+1)}
	ctx := f.ctx
	for _, id := range bad {
		checks := map[string]error{
			"CreateGroup":        c.CreateGroup(ctx, id),
			"DeleteGroup":        c.DeleteGroup(ctx, id),
			"JoinGroup":          c.JoinGroup(ctx, id, nil),
			"LeaveGroup":         c.LeaveGroup(ctx, id),
			"UpdateCapabilities": c.UpdateCapabilities(ctx, id, nil),
			"Leader":             second(c.Leader(ctx, id)),
			"StandDown":          c.StandDown(ctx, id),
			"Campaign":           second(c.Campaign(ctx, id)),
			"Members":            second(c.Members(ctx, id)),
			"MemberInfo(member)": second(c.MemberInfo(ctx, f.name("g"), id)),
			"Lock.Acquire":       c.Lock(id).Acquire(ctx),
			"Lock.TryAcquire":    second(c.Lock(id).TryAcquire(ctx)),
			"WatchJoinGroup":     second(c.WatchJoinGroup(ctx, id, func(tooz.MemberJoined) {})),
		}
		for name, err := range checks {
			if !errors.Is(err, tooz.ErrInvalidID) {
				f.Errorf("%s(%q): got %v, want ErrInvalidID", name, id, err)
			}
		}
		if _, err := f.h.Open(ctx, f.T, id); !errors.Is(err, tooz.ErrInvalidID) {
			f.Errorf("Open with member ID %q: got %v, want ErrInvalidID", id, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }
