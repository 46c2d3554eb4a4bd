// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"regexp"
	"slices"
	"strings"
	"testing"
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
