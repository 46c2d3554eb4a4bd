// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package membersink lets a driver implement both group watches of the
// tooz driver contract with one: WatchGroup hands its GroupSink to the
// driver's WatchMembers through Legacy.
package membersink

import "github.com/toozgo/tooz"

// Legacy returns a MemberSink that passes what a GroupSink can take to s:
// member IDs of snapshots, joins and leaves. Updates are dropped, as a
// GroupSink has no place for them.
func Legacy(s tooz.GroupSink) tooz.MemberSink { return legacy{s} }

type legacy struct{ s tooz.GroupSink }

func (l legacy) Snapshot(members []tooz.MemberInfo, _ uint64) {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	l.s.Reset(ids)
}

func (l legacy) Joined(m tooz.MemberInfo, _ uint64) { l.s.Joined(m.ID) }

func (l legacy) Updated(tooz.MemberInfo, uint64) {}

func (l legacy) Left(member string, _ uint64) { l.s.Left(member) }
