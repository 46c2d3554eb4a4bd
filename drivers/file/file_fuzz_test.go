// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package file

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/record"
)

// FuzzDecodeMember feeds the decoding of member files arbitrary bytes, as
// anyone with write access to the directory could leave there: it never
// panics, fails with errMalformed, and what it decodes in full encodes
// back to the same bytes.
func FuzzDecodeMember(f *testing.F) {
	f.Add(encodeMember("m", "sid-1", record.Member{Capabilities: []byte("caps")}), true)
	f.Add(encodeMember("m", "", record.Member{}), false)
	f.Add([]byte(memberMagic), true)
	f.Add([]byte(memberMagic+"\x05\x00ab"), true)
	f.Add([]byte(memberMagic+"\x00\x00"), false)
	f.Add([]byte("garbage"), true)
	f.Fuzz(func(t *testing.T, b []byte, full bool) {
		m, err := decodeMember(b, full)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("decodeMember(%q): untyped error %v", b, err)
			}
			return
		}
		if m.id == "" {
			t.Fatalf("decodeMember(%q) accepted an empty ID", b)
		}
		if full && !bytes.Equal(encodeMember(m.id, m.sid, m.rec), b) {
			t.Fatalf("decodeMember(%q) = %+v, which encodes differently", b, m)
		}
	})
}

// FuzzIDFromEntry feeds the recovery of an ID from a directory entry's
// name arbitrary names: it never panics, accepts only names that are the
// escaped form of a valid ID, and never a hashed name.
func FuzzIDFromEntry(f *testing.F) {
	for _, s := range []string{"m", "a%2Fb", "=abc", "", "%FF", "x.tmp", ".lock", entryName(string(make([]byte, 250)))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id, ok := idFromEntry(name)
		if !ok {
			return
		}
		if isHashed(name) || keyspace.Escape(id) != name || !utf8.ValidString(id) || tooz.ValidateID(id) != nil {
			t.Fatalf("idFromEntry(%q) = %q", name, id)
		}
	})
}

// FuzzSIDTimeout feeds the parsing of session IDs (read from member and
// lock files anyone may write) arbitrary strings: it never panics, and
// what it accepts is a plain file name with a positive timeout, so that
// foreign data never names a path outside the sessions directory.
func FuzzSIDTimeout(f *testing.F) {
	for _, s := range []string{newSID(time.Second), "0123456789abcdef-1", "../../etc/passwd", "0123456789abcdef-", "0123456789ABCDEF-5", "0123456789abcdef--5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sid string) {
		d, ok := sidTimeout(sid)
		if !ok {
			return
		}
		if d <= 0 || filepath.Base(sid) != sid || strings.ContainsAny(sid, "/\x00") || sid == "." || sid == ".." {
			t.Fatalf("sidTimeout(%q) = %v, accepted", sid, d)
		}
	})
}
