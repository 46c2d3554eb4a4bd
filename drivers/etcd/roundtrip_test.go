// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"bufio"
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// kvCalls reads how many KV RPCs (Range, Txn, Put, DeleteRange, ...) etcd
// has started, by method, from its /metrics endpoint.
func kvCalls(t *testing.T, s *testserver.Server) map[string]int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+s.Addr+"/metrics", nil)
	testutil.Must(t, err, "metrics request")
	resp, err := http.DefaultClient.Do(req)
	testutil.Must(t, err, "GET /metrics")
	defer resp.Body.Close()
	calls := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "grpc_server_started_total{") || !strings.Contains(line, `grpc_service="etcdserverpb.KV"`) {
			continue
		}
		i := strings.Index(line, `grpc_method="`)
		rest := line[i+len(`grpc_method="`):]
		method := rest[:strings.IndexByte(rest, '"')]
		n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		testutil.Must(t, err, "parse "+line)
		calls[method] += int(n)
	}
	testutil.Must(t, sc.Err(), "read /metrics")
	return calls
}

// TestRoundTrips counts the KV requests etcd receives for each operation:
// an uncontended Acquire is one transaction, Release one delete, a
// TryAcquire of a held lock one transaction (that writes nothing), and
// join, update, members and leave one transaction each.
func TestRoundTrips(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	url := testURL(s)
	a, b := open(t, url, "a"), open(t, url, "b")
	g, name := testutil.Unique("g"), testutil.Unique("lock")
	testutil.Must(t, a.CreateGroup(ctx, g), "create group")
	la, lb := a.Lock(name), b.Lock(name)

	step := func(what string, want map[string]int, op func() error) {
		t.Helper()
		before := kvCalls(t, s)
		testutil.Must(t, op(), what)
		after := kvCalls(t, s)
		got := map[string]int{}
		for m, n := range after {
			if d := n - before[m]; d != 0 {
				got[m] = d
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: etcd got %v, want %v", what, got, want)
		}
	}
	step("uncontended Acquire", map[string]int{"Txn": 1}, func() error { return la.Acquire(ctx) })
	step("TryAcquire of a held lock", map[string]int{"Txn": 1}, func() error {
		ok, err := lb.TryAcquire(ctx)
		if ok {
			t.Error("TryAcquire of a held lock succeeded")
		}
		return err
	})
	step("Release", map[string]int{"DeleteRange": 1}, func() error { return la.Release(ctx) })
	step("JoinGroup", map[string]int{"Txn": 1}, func() error { return a.JoinGroup(ctx, g, []byte("x")) })
	step("UpdateCapabilities", map[string]int{"Txn": 1}, func() error { return a.UpdateCapabilities(ctx, g, []byte("y")) })
	step("Members", map[string]int{"Txn": 1}, func() error { _, err := b.MembersInfo(ctx, g); return err })
	step("LeaveGroup", map[string]int{"Txn": 1}, func() error { return a.LeaveGroup(ctx, g) })
}

// TestUpdateCapabilities takes both paths of UpdateCapabilities — the one
// guarded on the membership this coordinator created, and the read and
// compare-and-swap for a membership it does not know — and checks that
// JoinedAt is kept and the errors are right.
func TestUpdateCapabilities(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	c := open(t, testURL(s), "m")
	g := testutil.Unique("g")
	testutil.Must(t, c.JoinGroupCreate(ctx, g, []byte("v1")), "join")
	first, err := c.MemberInfo(ctx, g, "m")
	testutil.Must(t, err, "info")
	testutil.Must(t, c.UpdateCapabilities(ctx, g, []byte("v2")), "update (guarded on the join)")
	d := c.Driver().(*conn)
	d.mu.Lock()
	clear(d.joins)
	d.mu.Unlock()
	testutil.Must(t, c.UpdateCapabilities(ctx, g, []byte("v3")), "update (read and swap)")
	last, err := c.MemberInfo(ctx, g, "m")
	testutil.Must(t, err, "info")
	if string(last.Capabilities) != "v3" || !last.JoinedAt.Equal(first.JoinedAt) || !last.UpdatedAt.After(first.UpdatedAt) {
		t.Fatalf("after two updates: %+v; first %+v", last, first)
	}
	testutil.Must(t, c.LeaveGroup(ctx, g), "leave")
	if err := c.UpdateCapabilities(ctx, g, nil); !errors.Is(err, tooz.ErrMemberNotJoined) {
		t.Fatalf("update after leaving: %v, want ErrMemberNotJoined", err)
	}
	testutil.Must(t, c.DeleteGroup(ctx, g), "delete group")
	if err := c.UpdateCapabilities(ctx, g, nil); !errors.Is(err, tooz.ErrGroupNotCreated) {
		t.Fatalf("update in a deleted group: %v, want ErrGroupNotCreated", err)
	}
}

// TestContenderKeysReused: taking a lock again re-creates the same key
// rather than a new one each time (etcd keeps deleted keys in its index
// until a compaction, and every read of the queue would step over them),
// while two handles of one coordinator still get keys of their own.
func TestContenderKeysReused(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	raw := rawClient(t, s)
	c := open(t, testURL(s), "m")
	name := testutil.Unique("lock")
	prefix := c.Driver().(*conn).keys.resource(tooz.Resource{Kind: tooz.KindLock, Name: name})
	keys := func() []string {
		t.Helper()
		resp, err := raw.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		testutil.Must(t, err, "list contenders")
		var ks []string
		for _, kv := range resp.Kvs {
			ks = append(ks, string(kv.Key))
		}
		return ks
	}
	l1, l2 := c.Lock(name), c.Lock(name)
	testutil.Must(t, l1.Acquire(ctx), "acquire")
	first := keys()
	token := l1.FencingToken()
	if ok, err := l2.TryAcquire(ctx); ok || err != nil {
		t.Fatalf("second handle's TryAcquire = %v, %v", ok, err)
	}
	testutil.Must(t, l1.Release(ctx), "release")
	for range 3 {
		testutil.Must(t, l1.Acquire(ctx), "acquire again")
		if got := keys(); !slices.Equal(got, first) {
			t.Fatalf("contender keys %v, want the first one %v again", got, first)
		}
		if l1.FencingToken() <= token {
			t.Fatalf("fencing token %d after %d", l1.FencingToken(), token)
		}
		token = l1.FencingToken()
		testutil.Must(t, l1.Release(ctx), "release")
	}
	testutil.Must(t, l1.Acquire(ctx), "acquire")
	waiting := make(chan error, 1)
	go func() { waiting <- l2.Acquire(ctx) }()
	waitUntil(t, 10*time.Second, "the second handle queued", func() bool { return len(keys()) == 2 })
	if ks := keys(); ks[0] == ks[1] {
		t.Fatalf("two handles share the key %s", ks[0])
	}
	testutil.Must(t, l1.Release(ctx), "release")
	testutil.Must(t, <-waiting, "second handle acquires")
	testutil.Must(t, l2.Release(ctx), "release")
}
