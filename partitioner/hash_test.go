// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner

import (
	"hash/fnv"
	"testing"
)

// The placement functions are part of the package's contract: members on
// different platforms and versions must agree. These values pin them.

func TestKeyHashIsFNV1aThenFmix64(t *testing.T) {
	for _, k := range []string{"", "a", "foobar", "item-1", "héllo/wörld", "\x00\xff"} {
		h := fnv.New64a()
		h.Write([]byte(k))
		if got, want := keyHash(k), fmix64(h.Sum64()); got != want {
			t.Errorf("keyHash(%q) = %#x, want fmix64(FNV-1a 64) = %#x", k, got, want)
		}
		if keyHash(k) != keyHash([]byte(k)) {
			t.Errorf("keyHash(%q) differs for string and []byte", k)
		}
	}
}

func TestHashGolden(t *testing.T) {
	keys := []struct {
		key  string
		want uint64
	}{
		{"", 0xefd01f60ba992926},
		{"a", 0x82a2a958a9bece5b},
		{"foobar", 0x2c22194922d1672b},
		{"item-1", 0xe3d58280f7f95788},
		{"item-2", 0xefa3a7b07be156ef},
		{"héllo/wörld", 0xccf03ac7e4f40f45},
	}
	for _, c := range keys {
		if got := keyHash(c.key); got != c.want {
			t.Errorf("keyHash(%q) = %#x, want %#x", c.key, got, c.want)
		}
	}
	// SplitMix64 seeded with 0 starts 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4,
	// 0x06c45d188009454f (the reference implementation's outputs).
	points := []struct {
		seed uint64
		i    int
		want uint64
	}{
		{0, 0, 0xe220a8397b1dcdaf},
		{0, 1, 0x6e789e6aa1b965f4},
		{0, 2, 0x06c45d188009454f},
		{12345, 7, 0x6e7411b06820371c},
	}
	for _, c := range points {
		if got := pointHash(c.seed, c.i); got != c.want {
			t.Errorf("pointHash(%d, %d) = %#x, want %#x", c.seed, c.i, got, c.want)
		}
	}
}

// TestPlacementGolden pins whole lookups, so that any change to the hashes,
// the probes or the walk shows up as a failure rather than as members of a
// rolling upgrade disagreeing.
func TestPlacementGolden(t *testing.T) {
	r := NewHashRing(0)
	if err := r.Set(map[string]int{"alpha": 1, "beta": 2, "gamma": 1, "delta": 3, "epsilon": 1}); err != nil {
		t.Fatal(err)
	}
	golden := []struct {
		key  string
		want []string
	}{
		{"job-1", []string{"delta", "beta", "alpha"}},
		{"job-2", []string{"gamma", "epsilon", "delta"}},
		{"job-3", []string{"epsilon", "alpha", "delta"}},
		{"job-4", []string{"delta", "epsilon", "gamma"}},
		{"job-5", []string{"gamma", "epsilon", "beta"}},
		{"job-6", []string{"alpha", "delta", "beta"}},
		{"tenant/42", []string{"epsilon", "delta", "gamma"}},
		{"", []string{"beta", "delta", "alpha"}},
		{"\x00", []string{"epsilon", "beta", "delta"}},
	}
	for _, c := range golden {
		got := r.Get(c.key, 3)
		if len(got) != len(c.want) {
			t.Fatalf("Get(%q, 3) = %q, want %q", c.key, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("Get(%q, 3) = %q, want %q", c.key, got, c.want)
				break
			}
		}
	}
}
