// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package sharerec

import (
	"errors"
	"testing"

	"github.com/toozgo/tooz"
)

func TestRoundTrip(t *testing.T) {
	for _, sh := range []tooz.Share{{Exclusive: true}, {}, {Limit: 1}, {Limit: tooz.MaxPermits}} {
		for _, m := range []string{"w", "a b", "x/../y", "\x00é"} {
			got, gm, err := Decode(Encode(sh, m))
			if err != nil || got != sh || gm != m {
				t.Errorf("Decode(Encode(%+v, %q)) = %+v, %q, %v", sh, m, got, gm, err)
			}
		}
	}
}

func TestCorrupt(t *testing.T) {
	for _, rec := range []string{"", "tzs1", "tzs1 s 1", "tzs1 s 1 ", "tzs2 s 1 m", "tzs1 q 1 m", "tzs1 x 3 m",
		"tzs1 s -1 m", "tzs1 s 4097 m", "tzs1 s 99999999999999999999 m", "tzs1 s 1 \xff", "member-7"} {
		if _, _, err := Decode(rec); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(%q) = %v, want ErrCorrupt", rec, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(tooz.Share{Limit: 3}, "m"))
	f.Add("tzs1 x 0 \x00")
	f.Fuzz(func(t *testing.T, rec string) {
		sh, m, err := Decode(rec)
		if err != nil {
			return
		}
		if again, m2, err := Decode(Encode(sh, m)); err != nil || again != sh || m2 != m {
			t.Fatalf("%q decodes to %+v %q, which does not round-trip", rec, sh, m)
		}
	})
}
