// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"testing"

	"github.com/toozgo/tooz/internal/driverkit"
)

// TestUnsureSlotIsNeverReused: a slot whose key saw a request go
// unanswered stays taken after its key is deleted, so that a late delete
// of that key cannot remove a later contender's; a clean slot is reused.
func TestUnsureSlotIsNeverReused(t *testing.T) {
	c := &conn{}
	l := &lease{id: 0x2a, slots: map[string]map[int]struct{}{}}
	a := c.newContender(l, "p/")
	c.free(a)
	if b := c.newContender(l, "p/"); b.key != a.key {
		t.Fatalf("a freed clean slot was not reused: %q after %q", b.key, a.key)
	} else {
		c.markUnsure(b)
		c.free(b)
	}
	if d := c.newContender(l, "p/"); d.key == a.key {
		t.Fatalf("the unsure slot's key %q was given out again", d.key)
	}
	e := c.newContender(l, "q/")
	c.orphans = &driverkit.Pending[*contender]{}
	c.orphan(e) // a failed delete
	c.free(e)   // ... deleted by a later heartbeat
	if f := c.newContender(l, "q/"); f.key == e.key {
		t.Fatalf("an orphan's key %q was given out again", f.key)
	}
}
