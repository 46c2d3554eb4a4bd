// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package keyspace

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRoundTrip(t *testing.T) {
	for _, id := range []string{"a", "workers", "a/b", "..", ".", "with space", "ünï/cödé", "\x00nul", "%41", "-_", strings.Repeat("é", 127)} {
		e := Escape(id)
		for i := 0; i < len(e); i++ {
			if c := e[i]; !plain(c) && c != '%' {
				t.Fatalf("Escape(%q) = %q holds %q", id, e, c)
			}
		}
		got, err := Unescape(e)
		if err != nil || got != id {
			t.Fatalf("Unescape(Escape(%q)) = %q, %v", id, got, err)
		}
	}
}

func TestUnescapeRejects(t *testing.T) {
	for _, s := range []string{"%", "%4", "%zz", "%41", "%2f", "a/b", "a.b", "%4G", "", "%FF", "a%C3", strings.Repeat("a", 256)} {
		if got, err := Unescape(s); err == nil {
			t.Errorf("Unescape(%q) = %q, want error", s, got)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a", "a/b", "..", "\x00", "日本", "%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !utf8.ValidString(id) || id == "" || len(id) > maxIDLength {
			if _, err := Unescape(Escape(id)); err == nil {
				t.Fatalf("Unescape(Escape(%q)) accepted an invalid ID", id)
			}
			return
		}
		e := Escape(id)
		if strings.ContainsAny(e, "/.:") || e == "." || e == ".." {
			t.Fatalf("Escape(%q) = %q holds a separator", id, e)
		}
		got, err := Unescape(e)
		if err != nil || got != id {
			t.Fatalf("round trip of %q: %q, %v", id, got, err)
		}
	})
}
