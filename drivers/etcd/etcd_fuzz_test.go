// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/record"
	"github.com/toozgo/tooz/internal/testutil"
)

// FuzzParse feeds the driver's URL validation arbitrary URLs: it never
// panics, rejects with ErrInvalidURL without showing the password, and
// accepts with one endpoint per host (localhost without hosts), each
// with the scheme's protocol. The TLS files options are left out (the
// parse reads the files they name).
func FuzzParse(f *testing.F) {
	f.Add(false, "h1:2379,h2", "", "alice", "s3cr3t-pw", "dial_timeout=1s&lock_ttl=3s", int64(time.Second))
	f.Add(true, "[::1]:2379", "/", "", "", "", int64(0))
	f.Add(false, "h", "/path", "bob", "", "lock_ttl=0", int64(-1))
	f.Add(false, "", "", "", "only-a-password", "dial_timeout=x", int64(10*time.Second))
	f.Add(true, "h:1", "", "u", "p", "lock_ttl=1ms&dial_timeout=-1", int64(1))
	f.Fuzz(func(t *testing.T, tls bool, hosts, path, user, pass, query string, timeout int64) {
		d := &driver{tls: tls}
		accepted := slices.DeleteFunc(d.Options(), func(o string) bool { return o == optCA || o == optCert || o == optKey })
		scheme := "etcd"
		if tls {
			scheme = "etcd+https"
		}
		cfg, ok := testutil.FuzzConfig(scheme, hosts, path, user, pass, query, timeout, accepted)
		if !ok {
			return
		}
		s, err := d.parse(cfg)
		if err != nil {
			testutil.CheckParseError(t, err, pass, hosts, path, user, query)
			return
		}
		if want := max(1, len(cfg.Hosts)); len(s.endpoints) != want {
			t.Fatalf("%d endpoints for hosts %q: %q", len(s.endpoints), hosts, s.endpoints)
		}
		proto := "http://"
		if tls {
			proto = "https://"
		}
		for _, e := range s.endpoints {
			if !strings.HasPrefix(e, proto) {
				t.Fatalf("endpoint %q lacks %s", e, proto)
			}
		}
		if (s.tls != nil) != tls || s.dialTimeout <= 0 || s.lockTTL < 0 {
			t.Fatalf("settings %+v", s)
		}
	})
}

// FuzzMemberInfo feeds the decoding of a listed member key and value
// arbitrary bytes, as anyone with write access to the namespace could
// store: it never panics, and what it accepts is a key that unescapes to
// a valid ID and a value that is a well-formed record.
func FuzzMemberInfo(f *testing.F) {
	prefix := "tooz/members/g/"
	f.Add([]byte(prefix+"m"), record.Encode(record.Member{Capabilities: []byte("caps")}))
	f.Add([]byte(prefix+"%2F"), []byte("tz1"))
	f.Add([]byte(prefix+"a/b"), []byte{})
	f.Add([]byte("elsewhere"), []byte("\xff\x00"))
	f.Add([]byte(prefix), record.Encode(record.Member{}))
	c := &conn{log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		info, ok := c.memberInfo(prefix, &mvccpb.KeyValue{Key: key, Value: value})
		if !ok {
			return
		}
		if _, err := record.Decode(value); err != nil {
			t.Fatalf("accepted a malformed value %x: %v", value, err)
		}
		if err := tooz.ValidateID(info.ID); err != nil {
			t.Fatalf("key %q accepted as member %q: %v", key, info.ID, err)
		}
		if e := keyspace.Escape(info.ID); string(key) != prefix+e && string(key) != e {
			t.Fatalf("key %q decoded as ID %q", key, info.ID)
		}
	})
}
