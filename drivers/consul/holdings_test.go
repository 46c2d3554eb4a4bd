// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestSharedFollowing holds more locks than are followed one by one: the
// rest cost no goroutine each, and an out-of-band delete or release of
// any of their keys, also of one outside the shared query's first prefix,
// still ends exactly that ownership.
func TestSharedFollowing(t *testing.T) {
	s := testserver.StartConsul(t)
	raw := rawClient(t, s)
	h := newHarness(s, "")
	ctx := testutil.Context(t, 2*time.Minute)
	c := open(t, h, "holder")
	base := testutil.Unique("shard")
	var locks []*tooz.Lock
	take := func(name string) *tooz.Lock {
		l := c.Lock(name)
		testutil.Must(t, l.Acquire(ctx), "lock "+name)
		locks = append(locks, l)
		return l
	}
	for i := range soloHoldings + 2 {
		take(fmt.Sprintf("%s-%03d", base, i))
	}
	before := runtime.NumGoroutine()
	for i := soloHoldings + 2; i < soloHoldings+42; i++ {
		take(fmt.Sprintf("%s-%03d", base, i))
	}
	// 40 more locks: one query each would be 3 goroutines each.
	if grown := runtime.NumGoroutine() - before; grown > 10 {
		t.Errorf("40 more held locks added %d goroutines", grown)
	}
	// A name outside the shared prefix widens it.
	other := take(testutil.Unique("other"))
	d := c.Driver().(*conn)
	d.mu.Lock()
	hs := &d.sess.holds
	d.mu.Unlock()
	hs.mu.Lock()
	gen := hs.gen
	hs.mu.Unlock()
	if gen == nil || gen.prefix != d.ns+"/locks/" {
		t.Fatalf("the shared query after a name outside its prefix: %+v, want one on %q", gen, d.ns+"/locks/")
	}

	sid := sessionOf(t, c)
	deleted, released := locks[soloHoldings+5], locks[soloHoldings+30]
	if _, err := raw.KV().Delete(h.ownerKey(t, tooz.KindLock, deleted.Name()), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := raw.KV().Release(&api.KVPair{Key: h.ownerKey(t, tooz.KindLock, released.Name()), Session: sid}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.KV().Delete(h.ownerKey(t, tooz.KindLock, other.Name()), nil); err != nil {
		t.Fatal(err)
	}
	testutil.WaitClosed(t, deleted.Lost(), testTimeout, "the lock whose key was deleted to be lost")
	testutil.WaitClosed(t, released.Lost(), testTimeout, "the lock whose key was released to be lost")
	testutil.WaitClosed(t, other.Lost(), testTimeout, "the lock outside the first prefix to be lost")
	for _, l := range locks {
		if l == deleted || l == released || l == other {
			continue
		}
		if !l.Held() {
			t.Fatalf("%s was reported lost, but only its neighbours' keys went", l.Name())
		}
		testutil.Must(t, l.Release(ctx), "release "+l.Name())
	}
	// The shared query ends with the last ownership it follows.
	testutil.WaitClosed(t, gen.done, 10*time.Second, "the shared query to stop with nothing held")
}

func TestCommonPrefix(t *testing.T) {
	for _, c := range [][3]string{
		{"ns/locks/a-1/owner", "ns/locks/a-2/owner", "ns/locks/a-"},
		{"x", "x", "x"},
		{"x", "xy", "x"},
		{"", "x", ""},
		{"ab", "cd", ""},
	} {
		if got := commonPrefix(c[0], c[1]); got != c[2] {
			t.Errorf("commonPrefix(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// TestManyLocksUnderTheAgentsConnectionLimit: a Consul agent accepts 200
// concurrent HTTP connections per client address by default
// (http_max_conns_per_client). When every held lock kept a blocking
// query (a connection) of its own, the 206th acquisition failed with
// "Your IP is issuing too many concurrent connections"; the shared query
// lets one coordinator hold far more.
func TestManyLocksUnderTheAgentsConnectionLimit(t *testing.T) {
	s := testserver.StartConsul(t) // default limits
	c := open(t, newHarness(s, ""), "holder")
	ctx := testutil.Context(t, time.Minute)
	for i := range 400 {
		testutil.Must(t, c.Lock(fmt.Sprintf("l-%d", i)).Acquire(ctx), fmt.Sprintf("lock %d of 400", i))
	}
	_, err := c.Heartbeat(ctx)
	testutil.Must(t, err, "heartbeat with 400 locks held")
}
