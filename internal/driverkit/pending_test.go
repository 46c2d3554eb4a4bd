// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package driverkit

import (
	"errors"
	"slices"
	"testing"
)

func TestPending(t *testing.T) {
	var p Pending[string]
	fail := map[string]bool{"b": true}
	var done []string
	do := func(s string) error {
		if fail[s] {
			return errors.New("no answer")
		}
		done = append(done, s)
		return nil
	}
	p.Try(do, "a", "b")
	if !slices.Equal(done, []string{"a"}) || p.Len() != 1 {
		t.Fatalf("after Try: done %q, %d kept; want [a], 1 kept", done, p.Len())
	}
	p.Run(do) // still failing: kept
	if p.Len() != 1 {
		t.Fatalf("a failing item was not kept: %d", p.Len())
	}
	fail["b"] = false
	p.Run(do)
	if !slices.Equal(done, []string{"a", "b"}) || p.Len() != 0 {
		t.Fatalf("after Run: done %q, %d kept; want [a b], 0 kept", done, p.Len())
	}
	p.Add("c")
	p.Drop()
	p.Add("d")
	if p.Len() != 0 {
		t.Fatalf("Drop kept %d items", p.Len())
	}
}
