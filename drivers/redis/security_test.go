// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/record"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// requirePass sets the default user's password on s (the server was
// started without one, so that testserver's probe works) and returns a
// raw client that authenticates with it.
func requirePass(t *testing.T, ctx context.Context, s *testserver.Server, pass string) *goredis.Client {
	t.Helper()
	if err := raw(t, s).ConfigSet(ctx, "requirepass", pass).Err(); err != nil {
		t.Fatalf("CONFIG SET requirepass: %v", err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: s.Addr, Password: pass})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestRequirePassSecretsNeverShown complements TestAuth (an ACL user) with
// requirepass: a wrong password or none is ErrAuth naming redis, and no
// password shows in errors, URL() or the log.
func TestRequirePassSecretsNeverShown(t *testing.T) {
	s := testserver.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const pass, wrong = "req-Secret-41", "wr0ng-Secret-59"
	requirePass(t, ctx, s, pass)
	var logs testutil.LogBuffer
	var shown []string
	ns := testutil.Unique("auth")
	for _, u := range []string{
		"redis://:" + wrong + "@" + s.Addr + "/0?namespace=" + ns,
		"redis://default:" + wrong + "@" + s.Addr + "/0?namespace=" + ns,
		"redis://" + s.Addr + "/0?namespace=" + ns,
	} {
		c, err := tooz.Open(ctx, u, "m", tooz.WithLogger(logs.Logger()), tooz.WithTimeout(testTimeout))
		if err == nil {
			_ = c.Close(ctx)
		}
		if !errors.Is(err, tooz.ErrAuth) || !strings.Contains(err.Error(), "redis") {
			t.Fatalf("Open(%s): %v, want ErrAuth naming redis", strings.ReplaceAll(u, wrong, "xxxxx"), err)
		}
		t.Logf("refused: %v", err)
		shown = append(shown, err.Error())
	}
	c := open(t, "redis://:"+pass+"@"+s.Addr+"/0?namespace="+ns, "m", tooz.WithLogger(logs.Logger()))
	shown = append(shown, c.URL())
	g := testutil.Unique("g")
	if err := c.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatalf("join with the password: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	shown = append(shown, logs.String())
	testutil.CheckNoSecret(t, shown, pass, wrong)
}

// TestConformanceRequirePass runs the whole suite against a server that
// requires a password.
func TestConformanceRequirePass(t *testing.T) {
	s := testserver.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	requirePass(t, ctx, s, "suite-Secret-7")
	conformance.Run(t, conformance.URLHarness{
		URL:             "redis://:suite-Secret-7@" + s.Addr + "/0?namespace=" + testutil.Unique("conf-auth"),
		LivenessTimeout: testTimeout,
	})
}

// TestForeignData writes what tooz never writes into a namespace with a
// raw client — group names that are not escaped IDs, member entries that
// are too short, hold no record or name no live session, a key of the
// wrong type — and checks that listings, watches and locks ignore it (with
// a log line) or fail with an error, never panic and never report a wrong
// member.
func TestForeignData(t *testing.T) {
	s := testserver.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := raw(t, s)
	var logs testutil.LogBuffer
	u := testURL(s, "")
	a := open(t, u, "a", tooz.WithLogger(logs.Logger()))
	d := driverOf(t, a)
	g := testutil.Unique("g")
	if err := a.JoinGroupCreate(ctx, g, []byte("caps-a")); err != nil {
		t.Fatal(err)
	}
	ev := newEvents()
	w, err := a.WatchJoinGroup(ctx, g, ev.joined)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	liveSID := d.sid // a's session: the only one alive so far
	valid := record.Encode(record.Member{Capabilities: []byte("forged"), JoinedAt: time.Now(), UpdatedAt: time.Now()})
	testutil.Must(t, rdb.HSet(ctx, d.groupsKey(), "not.escaped", "1", "%FF", "1", "", "1").Err(), "foreign groups")
	testutil.Must(t, rdb.HSet(ctx, d.gkey(keyspace.Escape(g)),
		"short", "abc",
		"dead-session", strings.Repeat("f", sidLen)+string(valid),
		"no-record", liveSID+"\xffjunk",
		"truncated", liveSID+string(valid[:len(valid)/2]),
		"empty", "",
		"\xffnot-utf8", liveSID+string(valid), // the field is the member ID, unescaped
		strings.Repeat("x", 300), liveSID+string(valid),
	).Err(), "foreign members")
	// A member that really joins after the garbage: its event must be the
	// first one the watch reports.
	b := open(t, u, "b")
	if err := b.JoinGroup(ctx, g, []byte("caps-b")); err != nil {
		t.Fatal(err)
	}
	ev.want(t, 10*time.Second, "join b")

	testutil.CheckOnlyAB(t, ctx, a, g)
	for _, m := range []string{"no-record", "truncated"} {
		if info, err := a.MemberInfo(ctx, g, m); err == nil {
			t.Fatalf("MemberInfo(%q) of a malformed entry = %+v, want an error", m, info)
		}
	}
	if !strings.Contains(logs.String(), "did not write") {
		t.Fatalf("no log line about the ignored entries:\n%s", logs.String())
	}

	// A lock or election key of the wrong type, or a hash without tooz's
	// fields: an error or no owner, never a panic or a garbage owner.
	lk := d.lockKey(tooz.Resource{Name: "l1", Kind: tooz.KindLock})
	testutil.Must(t, rdb.Set(ctx, lk, "not a hash", 0).Err(), "string lock key")
	if ok, err := a.Lock("l1").TryAcquire(ctx); ok || err == nil {
		t.Fatalf("TryAcquire of a lock key holding a string: %v, %v; want an error", ok, err)
	}
	ek := d.lockKey(tooz.Resource{Name: g, Kind: tooz.KindElection})
	testutil.Must(t, rdb.HSet(ctx, ek, "mem", "\xffforged", "sid", "nope").Err(), "foreign election hash")
	leader, err := a.Leader(ctx, g)
	t.Logf("Leader of an election hash tooz did not write: %q, %v", leader, err)
	if err == nil && tooz.ValidateID(leader) != nil {
		t.Fatalf("Leader reports %q", leader)
	}
}
