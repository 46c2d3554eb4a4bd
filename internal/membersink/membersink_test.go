// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package membersink_test

import (
	"fmt"
	"testing"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/membersink"
)

type recorder []string

func (r *recorder) Reset(ms []string)  { *r = append(*r, fmt.Sprint("reset ", ms)) }
func (r *recorder) Joined(m string)    { *r = append(*r, "joined "+m) }
func (r *recorder) Left(member string) { *r = append(*r, "left "+member) }

func TestLegacy(t *testing.T) {
	var r recorder
	s := membersink.Legacy(&r)
	s.Snapshot([]tooz.MemberInfo{{ID: "a", Capabilities: []byte("x")}, {ID: "b"}}, 3)
	s.Joined(tooz.MemberInfo{ID: "c", Capabilities: []byte("y")}, 4)
	s.Updated(tooz.MemberInfo{ID: "c", Capabilities: []byte("z")}, 5)
	s.Left("a", 6)
	want := "[reset [a b] joined c left a]"
	if got := fmt.Sprint(r); got != want {
		t.Fatalf("GroupSink got %s, want %s (updates have no place in it)", got, want)
	}
}
