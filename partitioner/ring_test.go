// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/toozgo/tooz/partitioner"
)

// numKeys is the number of keys the quality bars are measured over.
const numKeys = 100_000

func keys(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("key-%d", i)
	}
	return ks
}

func equalNodes(prefix string, n int) map[string]int {
	m := map[string]int{}
	for i := range n {
		m[fmt.Sprintf("%s%d", prefix, i)] = 1
	}
	return m
}

func newRing(t testing.TB, nodes map[string]int) *partitioner.HashRing {
	t.Helper()
	r := partitioner.NewHashRing(0)
	if err := r.Set(nodes); err != nil {
		t.Fatal(err)
	}
	return r
}

func owners(r *partitioner.HashRing, ks []string) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i], _ = r.Owner(k)
	}
	return out
}

// TestMovement measures the share of 100,000 keys that change owner when
// an 11th member joins 10, and when one of 11 leaves: at most 1.2 × the
// ideal 1/11, and only to the joining member / from the leaving one.
func TestMovement(t *testing.T) {
	ks := keys(numKeys)
	limit := 1.2 / 11
	for set := range 5 { // several sets of names: not one lucky draw
		prefix := fmt.Sprintf("set%d-member-", set)
		ten := equalNodes(prefix, 10)
		eleven := maps.Clone(ten)
		newcomer := prefix + "new"
		eleven[newcomer] = 1

		before := owners(newRing(t, ten), ks)
		after := owners(newRing(t, eleven), ks)
		moved := 0
		for i := range ks {
			if before[i] != after[i] {
				moved++
				if after[i] != newcomer {
					t.Fatalf("join: key %q moved from %s to %s, not to the newcomer", ks[i], before[i], after[i])
				}
			}
		}
		share := float64(moved) / numKeys
		t.Logf("set %d: join 10→11 moved %.4f of keys (ideal %.4f, ratio %.3f)", set, share, 1.0/11, share*11)
		if share > limit {
			t.Errorf("set %d: join moved %.4f of keys, more than 1.2 × 1/11 = %.4f", set, share, limit)
		}

		leaver := prefix + "3"
		ten2 := maps.Clone(eleven)
		delete(ten2, leaver)
		after2 := owners(newRing(t, ten2), ks)
		moved = 0
		for i := range ks {
			if after[i] != after2[i] {
				moved++
				if after[i] != leaver {
					t.Fatalf("leave: key %q moved from %s to %s though %s left", ks[i], after[i], after2[i], leaver)
				}
			}
		}
		share = float64(moved) / numKeys
		t.Logf("set %d: leave 11→10 moved %.4f of keys (ideal %.4f, ratio %.3f)", set, share, 1.0/11, share*11)
		if share > limit {
			t.Errorf("set %d: leave moved %.4f of keys, more than 1.2 × 1/11 = %.4f", set, share, limit)
		}
	}
}

// TestBalance: with 10 equal members and 100,000 keys, the most loaded
// member has at most 1.15 × the mean, with the default settings, for every
// one of several sets of member names.
func TestBalance(t *testing.T) {
	ks := keys(numKeys)
	sets := 12
	if testing.Short() {
		sets = 3
	}
	worst := 0.0
	for set := range sets {
		r := newRing(t, equalNodes(fmt.Sprintf("balance%d-member-", set), 10))
		count := map[string]int{}
		for _, o := range owners(r, ks) {
			count[o]++
		}
		if len(count) != 10 {
			t.Fatalf("set %d: %d members own keys, want 10", set, len(count))
		}
		most := slices.Max(slices.Collect(maps.Values(count)))
		ratio := float64(most) / (numKeys / 10)
		worst = max(worst, ratio)
		if ratio > 1.15 {
			t.Errorf("set %d: most loaded member has %.3f × the mean, more than 1.15", set, ratio)
		}
	}
	t.Logf("most loaded / mean, worst of %d name sets: %.3f (bar 1.15)", sets, worst)
}

// TestWeights: a weight-2 member gets 2 × ± 10 % of a weight-1 member's
// keys, and a weight-3 member 3 × ± 10 %.
func TestWeights(t *testing.T) {
	ks := keys(numKeys)
	for set := range 10 {
		nodes := equalNodes(fmt.Sprintf("weights%d-member-", set), 10)
		heavy2 := fmt.Sprintf("weights%d-member-0", set)
		heavy3 := fmt.Sprintf("weights%d-member-1", set)
		nodes[heavy2] = 2
		nodes[heavy3] = 3
		count := map[string]int{}
		for _, o := range owners(newRing(t, nodes), ks) {
			count[o]++
		}
		light := 0
		for n, w := range nodes {
			if w == 1 {
				light += count[n]
			}
		}
		mean := float64(light) / 8
		r2, r3 := float64(count[heavy2])/mean, float64(count[heavy3])/mean
		t.Logf("set %d: weight 2 gets %.3f ×, weight 3 gets %.3f × a weight-1 member's keys", set, r2, r3)
		if r2 < 1.8 || r2 > 2.2 {
			t.Errorf("set %d: weight-2 member gets %.3f × a weight-1 member's keys, want 2 ± 10%%", set, r2)
		}
		if r3 < 2.7 || r3 > 3.3 {
			t.Errorf("set %d: weight-3 member gets %.3f × a weight-1 member's keys, want 3 ± 10%%", set, r3)
		}
	}
}

func TestGet(t *testing.T) {
	nodes := map[string]int{"a": 1, "b": 2, "c": 1, "d": 1, "e": 3}
	r := newRing(t, nodes)
	for _, k := range keys(2000) {
		all := r.Get(k, 10)
		if len(all) != 5 {
			t.Fatalf("Get(%q, 10) = %q, want all 5 nodes", k, all)
		}
		if !distinct(all) {
			t.Fatalf("Get(%q, 10) = %q: not distinct", k, all)
		}
		if o, _ := r.Owner(k); o != all[0] {
			t.Fatalf("Owner(%q) = %s, Get(%q, 10)[0] = %s", k, o, k, all[0])
		}
		if b := r.GetBytes([]byte(k), 10); !slices.Equal(b, all) {
			t.Fatalf("GetBytes(%q) = %q, Get = %q", k, b, all)
		}
		// Fewer replicas give a prefix of the ring order.
		for n := range 5 {
			if got := r.Get(k, n); !slices.Equal(got, all[:n]) {
				t.Fatalf("Get(%q, %d) = %q, want the prefix of %q", k, n, got, all)
			}
		}
		// Ignoring nodes answers as the ring without them would.
		ignore := all[:2]
		without := maps.Clone(nodes)
		delete(without, ignore[0])
		delete(without, ignore[1])
		got := r.Get(k, 3, append(slices.Clone(ignore), "not-a-node")...)
		if want := newRing(t, without).Get(k, 3); !slices.Equal(got, want) {
			t.Fatalf("Get(%q, 3, ignore %q) = %q, the ring without them says %q", k, ignore, got, want)
		}
	}
	if got := r.Get("k", 0); len(got) != 0 {
		t.Errorf("Get(k, 0) = %q, want none", got)
	}
	if got := r.Get("k", 3, "a", "b", "c", "d", "e"); len(got) != 0 {
		t.Errorf("Get with every node ignored = %q, want none", got)
	}
	var empty partitioner.HashRing // the zero value is an empty ring
	if got := empty.Get("k", 1); len(got) != 0 {
		t.Errorf("empty ring Get = %q", got)
	}
	if _, ok := empty.Owner("k"); ok {
		t.Error("empty ring has an owner")
	}
	if empty.PointsPerWeight() != partitioner.DefaultPointsPerWeight {
		t.Errorf("zero HashRing has %d points per weight", empty.PointsPerWeight())
	}
}

func distinct(s []string) bool {
	seen := map[string]bool{}
	for _, x := range s {
		if seen[x] {
			return false
		}
		seen[x] = true
	}
	return true
}

func TestAddRemove(t *testing.T) {
	r := partitioner.NewHashRing(16)
	if err := r.Add("a", 1); err != nil {
		t.Fatal(err)
	}
	if err := r.Add("b", 2); err != nil {
		t.Fatal(err)
	}
	if got := r.Nodes(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Nodes = %q", got)
	}
	if w, ok := r.Weight("b"); !ok || w != 2 {
		t.Fatalf("Weight(b) = %d, %v", w, ok)
	}
	if err := r.Add("b", 3); err != nil { // re-weight
		t.Fatal(err)
	}
	if w, _ := r.Weight("b"); w != 3 {
		t.Fatalf("Weight(b) after re-weighting = %d", w)
	}
	err := r.Remove("zz")
	if !errors.Is(err, partitioner.ErrUnknownNode) {
		t.Fatalf("Remove(unknown) = %v, want ErrUnknownNode", err)
	}
	if err := r.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove("a"); !errors.Is(err, partitioner.ErrUnknownNode) {
		t.Fatalf("second Remove(a) = %v, want ErrUnknownNode", err)
	}
	if r.Len() != 1 {
		t.Fatalf("Len = %d", r.Len())
	}
	for _, w := range []int{0, -1, partitioner.MaxWeight + 1} {
		if err := r.Add("c", w); !errors.Is(err, partitioner.ErrInvalidWeight) {
			t.Errorf("Add(c, %d) = %v, want ErrInvalidWeight", w, err)
		}
	}
	if err := r.Set(map[string]int{"x": 1, "y": 0}); !errors.Is(err, partitioner.ErrInvalidWeight) {
		t.Errorf("Set with weight 0 = %v, want ErrInvalidWeight", err)
	}
	if got := r.Nodes(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("a failed Set changed the ring: %q", got)
	}
	// Re-weighting keeps a node's first points: going from 3 to 4 moves
	// keys only to b.
	r2 := newRing(t, map[string]int{"a": 1, "b": 3, "c": 1})
	ks := keys(10_000)
	before := owners(r2, ks)
	if err := r2.Add("b", 4); err != nil {
		t.Fatal(err)
	}
	for i, o := range owners(r2, ks) {
		if o != before[i] && o != "b" {
			t.Fatalf("re-weighting b moved key %q from %s to %s", ks[i], before[i], o)
		}
	}
}

// TestConcurrentReaders runs lookups while the ring changes: readers must
// always see a complete ring (run with -race).
func TestConcurrentReaders(t *testing.T) {
	r := newRing(t, equalNodes("m", 5))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("k%d-%d", g, i)
				got := r.Get(k, 3)
				if len(got) != 3 || !distinct(got) {
					errs <- fmt.Errorf("Get(%q, 3) = %q during changes", k, got)
					return
				}
			}
		})
	}
	for i := range 200 {
		if err := r.Add(fmt.Sprintf("extra%d", i%7), 1+i%3); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			if err := r.Remove(fmt.Sprintf("extra%d", i%7)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkHashRingGet(b *testing.B) {
	r := newRing(b, equalNodes("member-", 1000))
	ks := keys(1 << 12)
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			defer cpuPerOp(b)()
			i := 0
			for b.Loop() {
				r.Get(ks[i&(len(ks)-1)], n)
				i++
			}
		})
	}
	b.Run("Owner", func(b *testing.B) {
		defer cpuPerOp(b)()
		i := 0
		for b.Loop() {
			r.Owner(ks[i&(len(ks)-1)])
			i++
		}
	})
}

// BenchmarkRebuild builds the ring of 1,000 members from scratch (goal:
// under 10 ms), and adds a 1,001st member to it.
func BenchmarkRebuild(b *testing.B) {
	nodes := equalNodes("member-", 1000)
	b.Run("members=1000", func(b *testing.B) {
		defer cpuPerOp(b)()
		for b.Loop() {
			r := partitioner.NewHashRing(0)
			if err := r.Set(nodes); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("add-to-1000", func(b *testing.B) {
		r := newRing(b, nodes)
		defer cpuPerOp(b)()
		i := 0
		for b.Loop() {
			if err := r.Add("newcomer", 1+i%2); err != nil { // alternate weights: a real change each time
				b.Fatal(err)
			}
			i++
		}
	})
}
