// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"errors"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestOwnerZnodeDeletedOutOfBand: an operator (or a buggy tool) deletes the
// owner znode of a lock and of a leadership while the holder's session
// lives. The next contender owns at once (it watches that znode), so the
// holder must see Lost() at once too, not only when it releases.
func TestOwnerZnodeDeletedOutOfBand(t *testing.T) {
	srv := testserver.StartZooKeeper(t, testserver.WithNoFsync())
	ctx := testutil.Context(t, time.Minute)
	const timeout = 2 * time.Second
	url := "zookeeper://" + srv.Addr + "/revoke"
	g, lockName := unique("g"), unique("l")
	a := open(t, url, "a", tooz.WithTimeout(timeout))
	b := open(t, url, "b", tooz.WithTimeout(timeout))
	la := a.Lock(lockName)
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	lead, err := a.Campaign(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	got := contendBoth(ctx, t, b, lockName, g)
	raw := rawClient(t, srv.Addr)
	da := drv(a)
	deleted := time.Now()
	for _, res := range []tooz.Resource{{Kind: tooz.KindLock, Name: lockName}, {Kind: tooz.KindElection, Name: g}} {
		dir := da.resDir(res)
		children, _, err := raw.Children(dir)
		if err != nil {
			t.Fatal(err)
		}
		first := lowest(children)
		if data, _, err := raw.Get(dir + "/" + first); err != nil || string(data) != "a" {
			t.Fatalf("%s's first contender %s holds %q, %v; want a", dir, first, data, err)
		}
		if err := raw.Delete(dir+"/"+first, -1); err != nil {
			t.Fatal(err)
		}
	}
	// Well within the timeout: the delete, not a's deadline, must end them.
	testutil.WaitClosed(t, la.Lost(), timeout/2, "a's lock to be reported lost after its znode was deleted")
	testutil.WaitClosed(t, lead.Lost(), timeout/2, "a's leadership to end after its znode was deleted")
	t.Logf("both ownerships reported lost %v after the first of the two deletes began", time.Since(deleted))
	if !errors.Is(la.Err(), tooz.ErrSessionLost) {
		t.Fatalf("a's lock: Err() = %v, want ErrSessionLost", la.Err())
	}
	for range 2 {
		select {
		case tok := <-got:
			if tok == 0 {
				t.Fatal("b did not take over")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("b did not take over after a's znodes were deleted")
		}
	}
	if err := la.Release(ctx); !errors.Is(err, tooz.ErrLockNotHeld) {
		t.Fatalf("release of the revoked lock: %v", err)
	}
}
