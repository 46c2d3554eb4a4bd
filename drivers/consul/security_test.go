// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/record"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestForeignData writes what tooz never writes into a namespace with the
// raw client — group and member keys that are not escaped IDs, member keys
// without a session, malformed records held by someone else's session, a
// lock owner key with a record naming no member — and checks that listings,
// watches and locks ignore it (with a log line) or fail with an error,
// never panic and never report a wrong member.
func TestForeignData(t *testing.T) {
	s := testserver.StartConsul(t)
	ctx := testutil.Context(t, time.Minute)
	h := newHarness(s, "")
	logs := newLogSink()
	a := open(t, h, "a", tooz.WithLogger(slog.New(logs)))
	g := testutil.Unique("g")
	testutil.Must(t, a.JoinGroupCreate(ctx, g, []byte("caps-a")), "a joins")
	events := watchMembers(t, a, g)

	raw := rawClient(t, s)
	kv := raw.KV()
	sid, _, err := raw.Session().Create(&api.SessionEntry{TTL: "60s", Behavior: api.SessionBehaviorDelete}, nil)
	testutil.Must(t, err, "foreign session")
	t.Cleanup(func() { _, _ = raw.Session().Destroy(sid, nil) })
	k := h.keys(t)
	valid := record.Encode(record.Member{Capabilities: []byte("forged"), JoinedAt: time.Now(), UpdatedAt: time.Now()})
	put := func(key string, val []byte, session bool) {
		t.Helper()
		p := &api.KVPair{Key: key, Value: val}
		if !session {
			_, err := kv.Put(p, nil)
			testutil.Must(t, err, "put "+key)
			return
		}
		p.Session = sid
		ok, _, err := kv.Acquire(p, nil)
		if err != nil || !ok {
			t.Fatalf("acquire %s: %v, %v", key, ok, err)
		}
	}
	put(k.groupsPrefix()+"not.escaped/", nil, false)
	put(k.groupsPrefix()+"%FF/", nil, false)
	put(k.groupsPrefix()+"no-slash", nil, false)
	put(k.groupKey(g)+"no-session", valid, false)
	put(k.groupKey(g)+"not.escaped", valid, true)
	put(k.groupKey(g)+"%C3", valid, true)
	put(k.groupKey(g)+"garbage", []byte("\xffjunk"), true)
	put(k.groupKey(g)+"truncated", valid[:len(valid)/2], true)
	put(k.ns+"/unexpected/key", []byte("x"), false)
	// A member that really joins after the garbage: its event must be the
	// first one the watch reports.
	b := open(t, h, "b")
	testutil.Must(t, b.JoinGroup(ctx, g, []byte("caps-b")), "b joins")
	expectEvent(t, events, memberEvent{"join", "b"})

	testutil.CheckOnlyAB(t, ctx, a, g)
	for _, m := range []string{"garbage", "truncated"} {
		if info, err := a.MemberInfo(ctx, g, m); err == nil {
			t.Fatalf("MemberInfo(%q) of a malformed record = %+v, want an error", m, info)
		}
	}
	found := false
	for _, l := range logs.all() {
		found = found || strings.Contains(l, "ignoring")
	}
	if !found {
		t.Fatalf("no log line about the ignored keys: %q", logs.all())
	}

	// A lock whose owner key someone else's session holds, with a record
	// that names no valid member: not acquired, and no garbage owner.
	put(k.resBase(tooz.Resource{Name: "l", Kind: tooz.KindLock})+ownerName, []byte(`{"member":"","contender":"x"}`), true)
	if ok, err := a.Lock("l").TryAcquire(ctx); ok || err != nil {
		t.Fatalf("TryAcquire of a lock held by a foreign session: %v, %v", ok, err)
	}
	if owner, err := a.Lock("l").Owner(ctx); err == nil && tooz.ValidateID(owner) != nil {
		t.Fatalf("Owner = %q: the foreign record's member", owner)
	}
	put(k.resBase(tooz.Resource{Name: g, Kind: tooz.KindElection})+ownerName, []byte("not json"), true)
	if leader, err := a.Leader(ctx, g); err == nil {
		t.Fatalf("Leader of an election whose owner key holds garbage = %q, want an error", leader)
	}
}

// TestConformanceACL runs the whole suite against an agent with ACLs on
// (default deny), with a token in the URL.
func TestConformanceACL(t *testing.T) {
	const mgmt = "3c0a5e1d-7b2f-4c8e-9d6a-5f4e3d2c1b0a"
	s := testserver.StartConsul(t, testserver.WithArgs("-hcl",
		`acl { enabled = true, default_policy = "deny", tokens { initial_management = "`+mgmt+`" } }`))
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	conformance.Run(t, newHarness(s, "&token="+mgmt))
}
