// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"errors"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLockTTL: with lock_ttl (or WithLockTTL) differing from the timeout,
// locks hang on a lease of that TTL, renewed by the same heartbeat as the
// member's lease; losing it is losing the session.
func TestLockTTL(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	raw := rawClient(t, s)
	url := testURL(s) + "&lock_ttl=5s"
	g, name, other := testutil.Unique("g"), testutil.Unique("lock"), testutil.Unique("lock")
	a := open(t, url, "a", tooz.WithoutHeart())
	testutil.Must(t, a.JoinGroupCreate(ctx, g, nil), "join")
	memberLease, err := leaseOf(a)
	testutil.Must(t, err, "member lease")
	l := a.Lock(name)
	testutil.Must(t, l.Acquire(ctx), "acquire")
	l7 := a.Lock(other, tooz.WithLockTTL(7*time.Second))
	testutil.Must(t, l7.Acquire(ctx), "acquire with WithLockTTL")

	leaseOfKey := func(prefix string) clientv3.LeaseID {
		t.Helper()
		resp, err := raw.Get(ctx, prefix, clientv3.WithPrefix())
		testutil.Must(t, err, "get "+prefix)
		if len(resp.Kvs) != 1 {
			t.Fatalf("%d keys under %s, want 1", len(resp.Kvs), prefix)
		}
		return clientv3.LeaseID(resp.Kvs[0].Lease)
	}
	ttlOf := func(id clientv3.LeaseID) int64 {
		t.Helper()
		resp, err := raw.TimeToLive(ctx, id)
		testutil.Must(t, err, "time to live")
		return resp.GrantedTTL
	}
	d := a.Driver().(*conn)
	lockLease := leaseOfKey(d.keys.resource(tooz.Resource{Kind: tooz.KindLock, Name: name}))
	lease7 := leaseOfKey(d.keys.resource(tooz.Resource{Kind: tooz.KindLock, Name: other}))
	if lockLease == memberLease || lease7 == memberLease || lockLease == lease7 {
		t.Fatalf("leases: member %x, lock_ttl %x, WithLockTTL %x; want three", memberLease, lockLease, lease7)
	}
	if got := ttlOf(memberLease); got != 2 {
		t.Fatalf("member lease TTL %d, want 2", got)
	}
	if got := ttlOf(lockLease); got != 5 {
		t.Fatalf("lock_ttl lease TTL %d, want 5", got)
	}
	if got := ttlOf(lease7); got != 7 {
		t.Fatalf("WithLockTTL lease TTL %d, want 7", got)
	}
	next, err := a.Heartbeat(ctx)
	testutil.Must(t, err, "heartbeat")
	if next != testTimeout/3 {
		t.Fatalf("heartbeat interval %v, want %v", next, testTimeout/3)
	}

	// The lock lease expires: the session is lost as a whole.
	if _, err := raw.Revoke(ctx, lockLease); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := a.Heartbeat(ctx); !errors.Is(err, tooz.ErrSessionLost) {
		t.Fatalf("heartbeat after the lock lease expired: %v, want ErrSessionLost", err)
	}
	if l.Held() || l7.Held() {
		t.Fatal("a lock still claims to be held after the session was lost")
	}
	if resp, err := raw.TimeToLive(ctx, memberLease); err != nil || resp.TTL != -1 {
		t.Fatalf("the old member lease lives on: %+v, %v", resp, err)
	}
	ms, err := a.Members(ctx, g)
	testutil.Must(t, err, "members")
	if len(ms) != 1 || ms[0] != "a" {
		t.Fatalf("members after the session loss = %v, want a re-joined", ms)
	}
	testutil.Must(t, l.Acquire(ctx), "lock again on a new lease")
}
