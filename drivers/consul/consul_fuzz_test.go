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
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/record"
	"github.com/toozgo/tooz/internal/testutil"
)

// FuzzParseSettings feeds the driver's URL validation arbitrary URLs: it
// never panics, rejects with ErrInvalidURL without showing the password
// or the token, and accepts with one agent address with a port.
func FuzzParseSettings(f *testing.F) {
	f.Add(false, "127.0.0.1:8500", "", "", "", "token=0b1e6f8a-secret&consistency=stale&lock_delay=0", int64(time.Second))
	f.Add(true, "agent", "/", "user", "basic-pw-123", "ca=%2Fca.pem&cert=c&key=k&datacenter=dc1", int64(0))
	f.Add(false, "a,b", "/x", "", "", "consistency=linear", int64(25*time.Hour))
	f.Add(false, "[::1]", "", "", "", "lock_delay=61s&ca=x", int64(1))
	f.Add(true, "", "", "", "", "cert=c&datacenter=", int64(-1))
	f.Fuzz(func(t *testing.T, https bool, hosts, path, user, pass, query string, timeout int64) {
		scheme := "consul"
		if https {
			scheme = "consul+https"
		}
		cfg, ok := testutil.FuzzConfig(scheme, hosts, path, user, pass, query, timeout, (&driver{}).Options())
		if !ok {
			return
		}
		s, err := parseSettings(cfg)
		if err != nil {
			testutil.CheckParseError(t, err, pass, hosts, path, user, query)
			if tok := cfg.Options[optToken]; len(tok) >= 6 && strings.Contains(err.Error(), tok) &&
				!strings.Contains(strings.ReplaceAll(hosts+path+user+query, tok, ""), tok) {
				t.Fatalf("parse error %q shows the token", err)
			}
			return
		}
		if s.https != https || s.token != cfg.Options[optToken] || s.lockDelay < 0 || s.lockDelay > time.Minute {
			t.Fatalf("settings %+v", s)
		}
		if !strings.Contains(s.address, ":") {
			t.Fatalf("address %q for hosts %q has no port", s.address, hosts)
		}
	})
}

// FuzzDecodeContender feeds the decoding of a lock's owner record
// arbitrary bytes: it never panics and accepts only JSON naming a contender and a valid member ID.
func FuzzDecodeContender(f *testing.F) {
	f.Add(encodeContender("m", "c1"))
	f.Add([]byte(`{"member":"m"}`))
	f.Add([]byte(`{"contender":1}`))
	f.Add([]byte("\xff"))
	f.Add([]byte(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeContender(b)
		if err != nil {
			if r != (contenderRecord{}) {
				t.Fatalf("error %v with a record %+v", err, r)
			}
			return
		}
		if r.Contender == "" || tooz.ValidateID(r.Member) != nil {
			t.Fatalf("accepted %q without a contender or a valid member", b)
		}
	})
}

// FuzzParseMembers feeds the picking of members out of a group's listing
// arbitrary keys (as anyone with write access to the KV store could
// write): it never panics, never lists the marker, a key without a
// session or a key that is not an escaped valid ID, and lists every
// escaped member key that holds a session.
func FuzzParseMembers(f *testing.F) {
	const prefix = "tooz/groups/g/"
	f.Add("m", "s1", "a/b", "", ".deleting", "s2")
	f.Add("", "s", "%FF", "s", "%41", "s")
	f.Add("%2F", "s", "x%", "s", strings.Repeat("a", 300), "s")
	d := &conn{log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, k1, s1, k2, s2, k3, s3 string) {
		pairs := api.KVPairs{{Key: prefix}}
		for _, kv := range [][2]string{{k1, s1}, {k2, s2}, {k3, s3}} {
			pairs = append(pairs, &api.KVPair{Key: prefix + kv[0], Session: kv[1], Value: record.Encode(record.Member{})})
		}
		exists, ms := d.parseMembers(prefix, pairs)
		if !exists {
			t.Fatal("the group marker was not seen")
		}
		want := 0
		for _, kv := range [][2]string{{k1, s1}, {k2, s2}, {k3, s3}} {
			if id, err := keyspace.Unescape(kv[0]); err == nil && kv[1] != "" && kv[0] != deletingName {
				want++
				if tooz.ValidateID(id) != nil {
					t.Fatalf("key %q unescapes to the invalid ID %q", kv[0], id)
				}
			}
		}
		if len(ms) != want {
			t.Fatalf("%d members out of %q: %+v", len(ms), []string{k1, k2, k3}, ms)
		}
		for _, m := range ms {
			if err := tooz.ValidateID(m.id); err != nil || m.pair.Session == "" {
				t.Fatalf("listed %q: %v", m.id, err)
			}
		}
	})
}
