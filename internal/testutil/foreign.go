// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// CheckFirstJoin waits up to d for the first member ID on joined (a
// join watch's events, started before foreign data was written) and fails
// t unless it is want: the foreign data must not show up as a join.
func CheckFirstJoin(t testing.TB, joined <-chan string, want string, d time.Duration) {
	t.Helper()
	select {
	case m := <-joined:
		if m != want {
			t.Fatalf("first join event after the garbage: %q, want %s", m, want)
		}
	case <-time.After(d):
		t.Fatal("no join event for " + want)
	}
}

// CheckOnlyAB fails t unless c lists group g alone and, in it, exactly
// the members "a" and "b" with the capabilities "caps-a" and "caps-b": the
// state the drivers' foreign-data tests set up beside what they forge.
func CheckOnlyAB(t testing.TB, ctx context.Context, c *tooz.Coordinator, g string) {
	t.Helper()
	gs, err := c.Groups(ctx)
	if err != nil || !slices.Equal(gs, []string{g}) {
		t.Fatalf("groups = %q, %v; want only %q", gs, err, g)
	}
	ms, err := c.MembersInfo(ctx, g)
	Must(t, err, "members info")
	if len(ms) != 2 || ms[0].ID != "a" || string(ms[0].Capabilities) != "caps-a" || ms[1].ID != "b" || string(ms[1].Capabilities) != "caps-b" {
		t.Fatalf("members = %+v, want a and b with their capabilities", ms)
	}
}
