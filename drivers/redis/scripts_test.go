// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestLibSplit: lib cut at its definitions is lib again, each piece
// defines the name it is filed under, no name is defined twice, and every
// definition comes after those it uses (else Lua would see a global).
func TestLibSplit(t *testing.T) {
	var joined strings.Builder
	at := map[string]int{}
	for i, d := range libDefs {
		joined.WriteString(d.text)
		if i == 0 {
			if d.name != "" || !strings.Contains(d.text, "replicate_commands") {
				t.Errorf("prologue = %q %q", d.name, d.text)
			}
			continue
		}
		def := regexp.MustCompile(`(?m)^local (function ` + regexp.QuoteMeta(d.name) + `\(|` + regexp.QuoteMeta(d.name) + ` =)`)
		if !def.MatchString(d.text) {
			t.Errorf("piece %d filed under %q does not define it:\n%s", i, d.name, d.text)
		}
		if _, dup := at[d.name]; dup {
			t.Errorf("%q is defined twice", d.name)
		}
		at[d.name] = i
		for _, u := range d.uses {
			if j, ok := at[u]; !ok || j >= i {
				t.Errorf("%s uses %s, which is not defined before it", d.name, u)
			}
		}
	}
	if joined.String() != lib {
		t.Fatal("the pieces joined are not lib")
	}
	// Only definitions, their bodies' "end" and comments start in column 0
	// after the prologue: a statement there would run only in the scripts
	// that need the definition above it.
	for _, d := range libDefs[1:] {
		for line := range strings.Lines(d.text) {
			if line == "\n" || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "--") ||
				strings.HasPrefix(line, "end") || strings.HasPrefix(line, "local ") {
				continue
			}
			t.Errorf("a statement in column 0 after the prologue, in %s: %q", d.name, line)
		}
	}
	if strings.Contains(lib, "[[") {
		t.Error("lib has a Lua long bracket, which withoutComments does not read")
	}
	if len(libDefs) < 20 {
		t.Fatalf("lib cut in %d pieces: the split found almost nothing", len(libDefs))
	}
}

// TestLibForKeepsWhatIsCalled: a script carries every definition it calls,
// through others too, and none it cannot reach.
func TestLibForKeepsWhatIsCalled(t *testing.T) {
	defined := func(text string) []string {
		var out []string
		for _, d := range libDefs {
			if d.name != "" && strings.Contains(text, d.text) {
				out = append(out, d.name)
			}
		}
		return out
	}
	release := defined(libFor(`if redis.call('HGET', KEYS[1], 'tok') == ARGV[2] then free(KEYS[1]) end`))
	for _, want := range []string{"free", "promote", "grant", "next_fence", "now_us", "fmt", "alive", "skey", "ikey", "P"} {
		if !slices.Contains(release, want) {
			t.Errorf("a script calling free lacks %s: has %v", want, release)
		}
	}
	for _, not := range []string{"reap", "event", "drop_shared", "kv_delete", "reap_expired", "GROUPS"} {
		if slices.Contains(release, not) {
			t.Errorf("a script calling free carries %s, which it cannot reach", not)
		}
	}
	reaper := defined(libFor(`return reap_expired(now_ms())`))
	for _, want := range []string{"reap", "event", "drop_contender", "drop_shared", "promote_shared", "parse_shared", "kv_delete", "kv_next", "SESSIONS", "GROUPS", "KV"} {
		if !slices.Contains(reaper, want) {
			t.Errorf("the reaper's script lacks %s: has %v", want, reaper)
		}
	}
	if got := libFor(`return 1`); got != libDefs[0].text {
		t.Errorf("a script that calls nothing carries %q, want only the prologue", got)
	}
}

func TestWithoutComments(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a -- b c\nd", "a \nd"},
		{"x = '--' .. y -- z", "x = '--' .. y "},
		{`x = "it's -- \" --" -- grant`, `x = "it's -- \" --" `},
		{"-- only", ""},
		{"a - b", "a - b"},
	} {
		if got := withoutComments(c.in); got != c.want {
			t.Errorf("withoutComments(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestLockPathCarriesNoReaping: the scripts every acquisition and release
// runs, and the owner query leader watches run at every change, leave
// reaping to scriptFreeDeadHolder, so that they do not carry
// the library it needs (see holder_dead).
func TestLockPathCarriesNoReaping(t *testing.T) {
	for name, src := range map[string]string{"acquire": acquireSrc, "poll": pollSrc, "drop": dropSrc, "owner": ownerSrc} {
		text := libFor(src) + src
		for _, d := range libDefs {
			if d.name == "reap" && strings.Contains(text, d.text) {
				t.Errorf("the %s script carries reap (%d bytes)", name, len(text))
			}
		}
		t.Logf("%s script: %d bytes", name, len(text))
	}
}

// TestAcquireScriptBranches runs scriptAcquire itself through each of its
// branches, on states a coordinator leaves and on damaged ones: the
// uncontended path reads the lock once, so every other state must still
// be told apart after that read.
func TestAcquireScriptBranches(t *testing.T) {
	s := testserver.StartRedis(t)
	ctx := testutil.Context(t, 30*time.Second)
	rdb := raw(t, s)
	d := driverOf(t, open(t, testURL(s, ""), "m"))
	sid, err := d.current()
	testutil.Must(t, err, "session")
	acquire := func(lk, tok, wait string) []any {
		t.Helper()
		entry := tok + "|" + sid + "|" + d.cid + "|60000|m"
		v, err := scriptAcquire.Run(ctx, rdb, []string{lk, d.skey(sid), d.ikey(sid)},
			d.p, tok, sid, d.cid, "60000", "m", wait, entry).Slice()
		testutil.Must(t, err, "acquire script")
		return v
	}
	want := func(what string, got []any, code int64) {
		t.Helper()
		if len(got) == 0 || got[0] != code {
			t.Fatalf("%s: answer %v, want code %d", what, got, code)
		}
	}
	lockKey := func() string {
		return d.lockKey(tooz.Resource{Kind: tooz.KindLock, Name: testutil.Unique("l")})
	}
	tokA, tokB := driverkit.NewID(), driverkit.NewID()

	lk := lockKey()
	first := acquire(lk, tokA, "0")
	want("a free lock", first, 1)
	testutil.Must(t, rdb.PExpire(ctx, lk, 5*time.Second).Err(), "shorten the TTL")
	again := acquire(lk, tokA, "0")
	want("the holder asking again (a retried call)", again, 1)
	if again[1] != first[1] {
		t.Fatalf("the holder asking again got fence %v, want its own %v", again[1], first[1])
	}
	if pt := rdb.PTTL(ctx, lk).Val(); pt < 30*time.Second {
		t.Fatalf("the holder asking again left the TTL at %v, want it refreshed to 60s", pt)
	}
	want("another token, not waiting", acquire(lk, tokB, "0"), 0)
	queued := acquire(lk, tokB, "1")
	want("another token, waiting", queued, 0)
	if queued[2] != int64(1) {
		t.Fatalf("the waiter's queue position = %v, want 1", queued[2])
	}
	if tok := rdb.HGet(ctx, lk, "tok").Val(); tok != tokA {
		t.Fatalf("holder after the others asked = %q, want %q", tok, tokA)
	}

	// A queue with nobody holding (the holder's key expired): the first
	// live waiter gets the lock, not a newcomer.
	testutil.Must(t, rdb.Del(ctx, lk).Err(), "expire the holder")
	tokC := driverkit.NewID()
	want("a newcomer behind a queue", acquire(lk, tokC, "0"), 0)
	if tok := rdb.HGet(ctx, lk, "tok").Val(); tok != tokB {
		t.Fatalf("holder after the queue was served = %q, want the waiter %q", tok, tokB)
	}

	// A lock hash without a token (not written by tooz): never granted.
	lk = lockKey()
	testutil.Must(t, rdb.HSet(ctx, lk, "mem", "x").Err(), "damaged lock")
	want("a lock hash without a token", acquire(lk, driverkit.NewID(), "0"), 0)
	if n := rdb.HLen(ctx, lk).Val(); n != 1 {
		t.Fatalf("the damaged hash has %d fields, want it untouched", n)
	}

	// A holder whose session is dead: the script leaves the reaping to
	// the client.
	lk = lockKey()
	dead := strings.Repeat("d", sidLen)
	testutil.Must(t, rdb.HSet(ctx, lk, "tok", driverkit.NewID(), "sid", dead, "mem", "gone", "fence", "7").Err(), "dead holder")
	want("a holder whose session is dead", acquire(lk, driverkit.NewID(), "0"), codeHolderDead)
}
