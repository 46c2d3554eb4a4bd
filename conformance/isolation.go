// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package conformance

import (
	"errors"
	"slices"

	"github.com/toozgo/tooz"
)

var isolationTests = []test{
	{"NamespacesIsolate", testNamespacesIsolate},
}

// testNamespacesIsolate opens coordinators in two namespaces of one backend
// and checks that neither sees the other's groups, members, locks,
// leaders or events, although they use the same names.
func testNamespacesIsolate(f *fixture) {
	ctx := f.ctx
	nsA, nsB := f.name("nsA"), f.name("nsB")
	a := f.open(f.name("a"), tooz.WithNamespace(nsA))
	b := f.open(f.name("b"), tooz.WithNamespace(nsB))
	g, lock := "shared-group", "shared-lock"

	joins := newRecorder[tooz.MemberJoined]()
	wb, err := b.WatchJoinGroup(ctx, g, joins.add)
	f.must(err, "watch in B")
	defer wb.Stop()

	f.must(a.JoinGroupCreate(ctx, g, []byte("A")), "join in A")
	if gs, err := b.Groups(ctx); err != nil || slices.Contains(gs, g) {
		f.Fatalf("namespace B lists %q (%v): A's group leaked", gs, err)
	}
	if _, err := b.Members(ctx, g); !errors.Is(err, tooz.ErrGroupNotCreated) {
		f.Fatalf("namespace B reads A's group: %v", err)
	}
	f.must(b.CreateGroup(ctx, g), "the same group name in B")
	la := a.Lock(lock)
	f.must(la.Acquire(ctx), "lock in A")
	ok, err := b.Lock(lock).TryAcquire(ctx)
	if err != nil || !ok {
		f.Fatalf("B cannot take a lock of the same name as A's: %v, %v", ok, err)
	}
	l, err := a.Campaign(ctx, g)
	f.must(err, "campaign in A")
	if _, err := b.Leader(ctx, g); !errors.Is(err, tooz.ErrNoLeader) {
		f.Fatalf("B sees A's leader: %v", err)
	}
	f.must(l.Resign(ctx), "resign")

	// B's watch must report B's join and nothing of A's.
	f.must(b.JoinGroup(ctx, g, []byte("B")), "join in B")
	evs := joins.waitFor(f, eventWait, "B's own join", func(e []tooz.MemberJoined) bool {
		return slices.Contains(e, tooz.MemberJoined{Group: g, Member: b.MemberID()})
	})
	if len(evs) != 1 {
		f.Fatalf("B's watch saw %+v; A's join leaked into B", evs)
	}
	caps, err := a.MemberCapabilities(ctx, g, a.MemberID())
	f.must(err, "A's capabilities")
	if string(caps) != "A" {
		f.Fatalf("A's capabilities became %q", caps)
	}
}
