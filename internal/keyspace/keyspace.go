// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package keyspace escapes tooz IDs (group, member and lock names: any
// valid UTF-8) into key and path segments every backend accepts, and back.
//
// An escaped segment holds only ASCII letters, digits, '-' and '_', and
// '%XX' for every other byte, so it never contains a separator ('/', ':',
// '.'), is never "." or "..", and sorts like the raw bytes it encodes
// within the unescaped characters. Escape then Unescape is the identity.
package keyspace

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrMalformed reports a segment that Escape cannot have produced.
var ErrMalformed = errors.New("keyspace: malformed escaped segment")

const hex = "0123456789ABCDEF"

func plain(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_'
}

// Escape returns id as a segment of letters, digits, '-', '_' and '%XX'.
func Escape(id string) string {
	n := 0
	for i := 0; i < len(id); i++ {
		if !plain(id[i]) {
			n++
		}
	}
	if n == 0 {
		return id
	}
	var b strings.Builder
	b.Grow(len(id) + 2*n)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// maxIDLength is tooz.MaxIDLength: no valid ID is longer.
const maxIDLength = 255

// Unescape reverses Escape. It rejects anything Escape would not produce
// (lower-case hex, escaped plain bytes, stray characters), so that one ID
// has exactly one escaped form, and anything that does not decode to a
// valid ID (empty, not UTF-8, longer than 255 bytes): drivers unescape
// keys that anyone with access to the backend may have written.
func Unescape(seg string) (string, error) {
	id, err := unescape(seg)
	if err != nil || id == "" || len(id) > maxIDLength || !utf8.ValidString(id) {
		return "", ErrMalformed
	}
	return id, nil
}

func unescape(seg string) (string, error) {
	if !strings.Contains(seg, "%") {
		for i := 0; i < len(seg); i++ {
			if !plain(seg[i]) {
				return "", ErrMalformed
			}
		}
		return seg, nil
	}
	var b strings.Builder
	b.Grow(len(seg))
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		if c != '%' || i+2 >= len(seg) {
			return "", ErrMalformed
		}
		hi, ok1 := unhex(seg[i+1])
		lo, ok2 := unhex(seg[i+2])
		v := hi<<4 | lo
		if !ok1 || !ok2 || plain(v) {
			return "", ErrMalformed
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}
