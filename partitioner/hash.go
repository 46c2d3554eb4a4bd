// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner

// The placement functions; the package documentation specifies them (see
// Placement), and hash_test.go pins them with golden values.

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
	golden64    = 0x9e3779b97f4a7c15
)

// keyHash returns the ring position of key: fmix64(FNV-1a-64(key)).
func keyHash[T string | []byte](key T) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= fnvPrime64
	}
	return fmix64(h)
}

// fmix64 is MurmurHash3's 64-bit finalizer.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// pointHash returns the ring position of the i-th point of the node whose
// seed is seed: SplitMix64's output for state seed + (i+1)·golden64.
func pointHash(seed uint64, i int) uint64 {
	z := seed + uint64(i+1)*golden64
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
