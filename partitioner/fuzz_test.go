// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/toozgo/tooz/partitioner"
)

// FuzzHashRing builds a ring from a comma-separated list of nodes (weight
// 1 + the node's length mod 4), then checks Get: it never panics, returns
// distinct nodes of the ring that are not ignored, min(replicas, nodes not
// ignored) of them, and agrees with GetBytes and Owner.
func FuzzHashRing(f *testing.F) {
	f.Add("a,b,c", []byte("key"), 2, "b")
	f.Add("", []byte(""), 1, "")
	f.Add("only", []byte{0}, 5, "only")
	f.Add("x,x,y,,z", []byte("\xff\xfe"), -1, "q")
	f.Add("n1,n2,n3,n4,n5,n6,n7,n8,n9,n10,n11,n12", []byte("tenant/42"), 10, "n3,n4,n5")
	f.Add("héllo,wörld,日本", []byte("日本"), 3, "日本")
	f.Fuzz(func(t *testing.T, nodeList string, key []byte, replicas int, ignoreList string) {
		var nodes []string
		if nodeList != "" {
			nodes = strings.Split(nodeList, ",")
		}
		if len(nodes) > 64 {
			nodes = nodes[:64]
		}
		var ignore []string
		if ignoreList != "" {
			ignore = strings.Split(ignoreList, ",")
		}
		replicas %= 100
		r := partitioner.NewHashRing(8)
		set := map[string]int{}
		for _, n := range nodes {
			set[n] = 1 + len(n)%4
			if err := r.Add(n, set[n]); err != nil {
				t.Fatalf("Add(%q): %v", n, err)
			}
		}
		eligible := 0
		for n := range set {
			if !slices.Contains(ignore, n) {
				eligible++
			}
		}
		got := r.GetBytes(key, replicas, ignore...)
		if want := max(0, min(replicas, eligible)); len(got) != want {
			t.Fatalf("GetBytes(%q, %d, %q) on %q = %q: %d nodes, want %d", key, replicas, ignore, nodes, got, len(got), want)
		}
		seen := map[string]bool{}
		for _, n := range got {
			if seen[n] {
				t.Fatalf("GetBytes returned %q twice: %q", n, got)
			}
			seen[n] = true
			if _, ok := set[n]; !ok {
				t.Fatalf("GetBytes returned %q, not a node", n)
			}
			if slices.Contains(ignore, n) {
				t.Fatalf("GetBytes returned ignored node %q", n)
			}
		}
		if s := r.Get(string(key), replicas, ignore...); !slices.Equal(s, got) {
			t.Fatalf("Get = %q, GetBytes = %q", s, got)
		}
		if o, ok := r.Owner(string(key)); ok != (len(set) > 0) || len(ignore) == 0 && len(got) > 0 && o != got[0] {
			t.Fatalf("Owner = %q, %v; Get = %q", o, ok, got)
		}
	})
}
