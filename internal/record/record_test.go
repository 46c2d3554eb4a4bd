// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package record

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	now := time.Now()
	for _, caps := range [][]byte{nil, {}, []byte("x"), {0, 255, 0}, bytes.Repeat([]byte{7}, 1<<16)} {
		m, err := Decode(Encode(Member{Capabilities: caps, JoinedAt: now, UpdatedAt: now.Add(time.Second)}))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Capabilities, caps) || m.Capabilities == nil || !m.JoinedAt.Equal(now) || !m.UpdatedAt.Equal(now.Add(time.Second)) {
			t.Fatalf("round trip of %d bytes: got %+v", len(caps), m)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("tz1"))
	f.Add(Encode(Member{Capabilities: []byte("caps")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(Encode(m), b) {
			t.Fatalf("re-encoding %x gives %x", b, Encode(m))
		}
	})
}
