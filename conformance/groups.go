// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/toozgo/tooz"
)

var groupTests = []test{
	{"GroupCreateListDelete", testGroupCreateListDelete},
	{"JoinLeaveAndErrors", testJoinLeaveAndErrors},
	{"ErrorsNameTheirSubject", testErrorsNameTheirSubject},
	{"SameMemberTwice", testSameMemberTwice},
	{"CapabilitiesRoundTrip", testCapabilitiesRoundTrip},
	{"MemberInfoTimes", testMemberInfoTimes},
	{"ConcurrentCreateOneWinner", testConcurrentCreate},
	{"DeleteRacesJoin", testDeleteRacesJoin},
	{"CloseLeavesAtOnce", testCloseLeavesAtOnce},
}

func testGroupCreateListDelete(f *fixture) {
	c := f.open(f.name("m"))
	g := f.name("g")
	ctx := f.ctx
	f.must(c.CreateGroup(ctx, g), "create")
	f.wantErr(c.CreateGroup(ctx, g), tooz.ErrGroupAlreadyExists, "create twice")
	gs, err := c.Groups(ctx)
	f.must(err, "groups")
	if !slices.Contains(gs, g) {
		f.Fatalf("Groups() = %q, missing %q", gs, g)
	}
	ms, err := c.Members(ctx, g)
	f.must(err, "members of a new group")
	if len(ms) != 0 {
		f.Fatalf("new group has members %q", ms)
	}
	f.must(c.DeleteGroup(ctx, g), "delete")
	f.wantErr(c.DeleteGroup(ctx, g), tooz.ErrGroupNotCreated, "delete twice")
	gs, err = c.Groups(ctx)
	f.must(err, "groups")
	if slices.Contains(gs, g) {
		f.Fatalf("Groups() = %q still holds deleted %q", gs, g)
	}
	_, err = c.Members(ctx, g)
	f.wantErr(err, tooz.ErrGroupNotCreated, "members of a deleted group")
	f.must(c.CreateGroup(ctx, g), "create again after delete")
}

func testJoinLeaveAndErrors(f *fixture) {
	ctx := f.ctx
	a := f.open(f.name("a"))
	b := f.open(f.name("b"))
	g := f.name("g")
	f.wantErr(a.JoinGroup(ctx, g, nil), tooz.ErrGroupNotCreated, "join a missing group")
	f.wantErr(a.LeaveGroup(ctx, g), tooz.ErrGroupNotCreated, "leave a missing group")
	_, err := a.MemberInfo(ctx, g, a.MemberID())
	f.wantErr(err, tooz.ErrGroupNotCreated, "member info in a missing group")
	f.wantErr(a.UpdateCapabilities(ctx, g, nil), tooz.ErrGroupNotCreated, "update capabilities in a missing group")

	f.must(a.JoinGroupCreate(ctx, g, []byte("a")), "join-create")
	f.wantErr(a.JoinGroup(ctx, g, nil), tooz.ErrMemberAlreadyJoined, "join twice")
	f.must(b.JoinGroupCreate(ctx, g, []byte("b")), "join-create an existing group")
	ms, err := b.Members(ctx, g)
	f.must(err, "members")
	if want := []string{a.MemberID(), b.MemberID()}; !slices.Equal(ms, sorted(want)) {
		f.Fatalf("Members() = %q, want %q", ms, sorted(want))
	}
	f.wantErr(a.DeleteGroup(ctx, g), tooz.ErrGroupNotEmpty, "delete a group with members")
	_, err = a.MemberInfo(ctx, g, f.name("nobody"))
	f.wantErr(err, tooz.ErrMemberNotJoined, "member info of a non-member")
	_, err = a.MemberCapabilities(ctx, g, f.name("nobody"))
	f.wantErr(err, tooz.ErrMemberNotJoined, "capabilities of a non-member")

	f.must(a.LeaveGroup(ctx, g), "leave")
	f.wantErr(a.LeaveGroup(ctx, g), tooz.ErrMemberNotJoined, "leave twice")
	f.wantErr(a.UpdateCapabilities(ctx, g, []byte("x")), tooz.ErrMemberNotJoined, "update capabilities after leaving")
	ms, err = a.Members(ctx, g)
	f.must(err, "members")
	if !slices.Equal(ms, []string{b.MemberID()}) {
		f.Fatalf("after a left, Members() = %q, want only %q", ms, b.MemberID())
	}
	f.must(b.LeaveGroup(ctx, g), "leave b")
	f.must(a.DeleteGroup(ctx, g), "delete the emptied group")
	// Re-joining after a leave works.
	f.must(a.JoinGroupCreate(ctx, g, nil), "join again")
}

func testErrorsNameTheirSubject(f *fixture) {
	c := f.open(f.name("m"))
	g := f.name("g")
	err := c.JoinGroup(f.ctx, g, nil)
	var te *tooz.Error
	if !errors.As(err, &te) || te.Group != g || te.Member != c.MemberID() {
		f.Fatalf("join of a missing group: %v (%T), want a *tooz.Error naming group %q and member %q", err, err, g, c.MemberID())
	}
	l := c.Lock(f.name("lock"))
	err = l.Release(f.ctx)
	if !errors.As(err, &te) || te.Lock != l.Name() {
		f.Fatalf("release of an unheld lock: %v, want a *tooz.Error naming lock %q", err, l.Name())
	}
}

func testSameMemberTwice(f *fixture) {
	g := f.name("g")
	id := f.name("m")
	a := f.open(id)
	f.must(a.JoinGroupCreate(f.ctx, g, nil), "join")
	b := f.open(id)
	testLiveDuplicateID(f, b, g)
}

func testCapabilitiesRoundTrip(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	large := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 64<<10/18)
	cases := map[string][]byte{"nil": nil, "empty": {}, "text": []byte(`{"zone":"a"}`), "binary": all, "large": large}
	reader := f.open(f.name("reader"))
	coords := map[string]*tooz.Coordinator{}
	for name, caps := range cases {
		c := f.open(f.name(name))
		coords[name] = c
		f.must(c.JoinGroupCreate(ctx, g, caps), "join with "+name+" capabilities")
	}
	all2, err := reader.MembersWithCapabilities(ctx, g)
	f.must(err, "members with capabilities")
	for name, caps := range cases {
		got, err := reader.MemberCapabilities(ctx, g, coords[name].MemberID())
		f.must(err, "capabilities of "+name)
		if !bytes.Equal(got, caps) {
			f.Fatalf("%s capabilities: got %d bytes, want %d (first bytes %q vs %q)", name, len(got), len(caps), head(got), head(caps))
		}
		if !bytes.Equal(all2[coords[name].MemberID()], caps) {
			f.Fatalf("%s capabilities from MembersWithCapabilities: got %d bytes, want %d", name, len(all2[coords[name].MemberID()]), len(caps))
		}
	}
	if len(all2) != len(cases) {
		f.Fatalf("MembersWithCapabilities has %d members, want %d", len(all2), len(cases))
	}
	// Updates are seen by others, and only the updater's value changes.
	c := coords["text"]
	f.must(c.UpdateCapabilities(ctx, g, []byte("v2")), "update")
	got, err := reader.MemberCapabilities(ctx, g, c.MemberID())
	f.must(err, "capabilities after update")
	if string(got) != "v2" {
		f.Fatalf("after update got %q, want v2", got)
	}
	got, err = reader.MemberCapabilities(ctx, g, coords["binary"].MemberID())
	f.must(err, "capabilities of another member")
	if !bytes.Equal(got, all) {
		f.Fatal("updating one member changed another's capabilities")
	}
	tooBig := make([]byte, tooz.MaxCapabilitiesLength+1)
	f.wantErr(c.UpdateCapabilities(ctx, g, tooBig), tooz.ErrInvalidCapabilities, "capabilities over the limit")
	got, err = reader.MemberCapabilities(ctx, g, c.MemberID())
	f.must(err, "capabilities after a refused update")
	if string(got) != "v2" {
		f.Fatalf("a refused update changed the stored capabilities to %d bytes", len(got))
	}
}

func head(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

func testMemberInfoTimes(f *fixture) {
	ctx := f.ctx
	g := f.name("g")
	c := f.open(f.name("m"))
	before := time.Now()
	f.must(c.JoinGroupCreate(ctx, g, []byte("one")), "join")
	info, err := c.MemberInfo(ctx, g, c.MemberID())
	f.must(err, "member info")
	const skew = time.Minute // backend and client clocks may differ a little
	if info.ID != c.MemberID() || string(info.Capabilities) != "one" {
		f.Fatalf("MemberInfo = %+v", info)
	}
	if info.JoinedAt.Before(before.Add(-skew)) || info.JoinedAt.After(time.Now().Add(skew)) {
		f.Fatalf("JoinedAt %v is not around now (%v)", info.JoinedAt, before)
	}
	if info.UpdatedAt.Before(info.JoinedAt) {
		f.Fatalf("UpdatedAt %v before JoinedAt %v", info.UpdatedAt, info.JoinedAt)
	}
	f.must(c.UpdateCapabilities(ctx, g, []byte("two")), "update")
	info2, err := c.MemberInfo(ctx, g, c.MemberID())
	f.must(err, "member info")
	if !info2.JoinedAt.Equal(info.JoinedAt) {
		f.Fatalf("JoinedAt changed on update: %v -> %v", info.JoinedAt, info2.JoinedAt)
	}
	if info2.UpdatedAt.Before(info.UpdatedAt) {
		f.Fatalf("UpdatedAt went back on update: %v -> %v", info.UpdatedAt, info2.UpdatedAt)
	}
	infos, err := c.MembersInfo(ctx, g)
	f.must(err, "members info")
	if len(infos) != 1 || infos[0].ID != c.MemberID() || string(infos[0].Capabilities) != "two" {
		f.Fatalf("MembersInfo = %+v", infos)
	}
}

func testConcurrentCreate(f *fixture) {
	g := f.name("g")
	const n = 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c := f.open(f.name(string(rune('a' + i))))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.CreateGroup(f.ctx, g)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, tooz.ErrGroupAlreadyExists):
		default:
			f.Fatalf("concurrent create: unexpected error %v", err)
		}
	}
	if won != 1 {
		f.Fatalf("%d concurrent creates succeeded, want exactly 1 (errors: %v)", won, errs)
	}
}

func testDeleteRacesJoin(f *fixture) {
	for round := range 5 {
		g := f.name("g" + string(rune('0'+round)))
		a := f.open(f.name("a" + string(rune('0'+round))))
		d := f.open(f.name("d" + string(rune('0'+round))))
		f.must(d.CreateGroup(f.ctx, g), "create")
		var joinErr, delErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); joinErr = a.JoinGroup(f.ctx, g, nil) }()
		go func() { defer wg.Done(); delErr = d.DeleteGroup(f.ctx, g) }()
		wg.Wait()
		gs, err := d.Groups(f.ctx)
		f.must(err, "groups")
		exists := slices.Contains(gs, g)
		switch {
		case joinErr == nil && errors.Is(delErr, tooz.ErrGroupNotEmpty):
			ms, err := d.Members(f.ctx, g)
			f.must(err, "members after join won")
			if !exists || !slices.Equal(ms, []string{a.MemberID()}) {
				f.Fatalf("join won, but group exists=%v members=%q", exists, ms)
			}
		case delErr == nil && errors.Is(joinErr, tooz.ErrGroupNotCreated):
			if exists {
				f.Fatalf("delete won, but the group is still listed")
			}
		default:
			f.Fatalf("join vs delete: join=%v delete=%v (exists=%v): want exactly one winner", joinErr, delErr, exists)
		}
	}
}

func testCloseLeavesAtOnce(f *fixture) {
	g := f.name("g")
	id := f.name("m")
	a, err := f.h.Open(f.ctx, f.T, id)
	f.must(err, "open")
	w := f.open(f.name("w"))
	f.must(a.JoinGroupCreate(f.ctx, g, nil), "join")
	left := newRecorder[tooz.MemberLeft]()
	watch, err := w.WatchLeaveGroup(f.ctx, g, left.add)
	f.must(err, "watch leave")
	defer watch.Stop()
	start := time.Now()
	f.must(a.Close(f.ctx), "close")
	f.must(a.Close(f.ctx), "close twice")
	f.wantErr(a.JoinGroup(f.ctx, g, nil), tooz.ErrClosed, "join after close")
	left.waitFor(f, f.h.Timeout()/2, "the leave of a closed member, well before its timeout", func(e []tooz.MemberLeft) bool {
		return count(e, tooz.MemberLeft{Group: g, Member: id}) == 1
	})
	f.Logf("leave seen %v after Close", time.Since(start).Round(time.Millisecond))
	// The member ID is free again at once.
	b := f.open(id)
	f.must(b.JoinGroup(f.ctx, g, nil), "re-join with the same ID after close")
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
