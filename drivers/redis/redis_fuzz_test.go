// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/record"
	"github.com/toozgo/tooz/internal/testutil"
)

// FuzzParse feeds the driver's URL validation arbitrary URLs for the
// redis, rediss and redis+sentinel schemes: it never panics, rejects with
// ErrInvalidURL without showing the password, and accepts with one
// address per host (127.0.0.1 without hosts), each with a port.
func FuzzParse(f *testing.F) {
	f.Add(uint8(0), "h1", "/3", "u", "hunter2-pw", "lock_ttl=2s&pool_size=7&dial_timeout=1s&read_timeout=250ms", int64(time.Second))
	f.Add(uint8(1), "cache.example:6380", "", "", "", "", int64(0))
	f.Add(uint8(2), "s1,s2:26380", "/1", "", "", "master=mymaster", int64(time.Second))
	f.Add(uint8(0), "n1,n2:7001", "/3", "", "", "", int64(time.Second))
	f.Add(uint8(0), "h", "/-1", "", "p", "lock_ttl=1ms", int64(time.Millisecond))
	f.Add(uint8(2), "[::1]", "x", "user", "", "master=", int64(-5))
	f.Fuzz(func(t *testing.T, kind uint8, hosts, path, user, pass, query string, timeout int64) {
		d := driver{tls: kind%3 == 1, sentinel: kind%3 == 2}
		scheme := [...]string{"redis", "rediss", "redis+sentinel"}[kind%3]
		cfg, ok := testutil.FuzzConfig(scheme, hosts, path, user, pass, query, timeout, d.Options())
		if !ok {
			return
		}
		s, err := d.parse(cfg)
		if err != nil {
			testutil.CheckParseError(t, err, pass, hosts, path, user, query)
			return
		}
		o := s.client
		if want := max(1, len(cfg.Hosts)); len(o.Addrs) != want {
			t.Fatalf("%d addresses for hosts %q: %q", len(o.Addrs), hosts, o.Addrs)
		}
		if (o.TLSConfig != nil) != d.tls || (o.MasterName != "") != d.sentinel || o.DB < 0 || s.lockTTL <= 0 || o.Password != pass {
			t.Fatalf("options %+v", o)
		}
		if strings.Contains(s.redacted, pass) && len(pass) >= 6 && !strings.Contains(hosts+path+user+query, pass) {
			t.Fatalf("redacted URL %q shows the password", s.redacted)
		}
	})
}

// FuzzDecodeMember feeds the decoding of a group hash's member entry
// arbitrary values, as anyone with write access to the database could
// store: it never panics and accepts only a session ID followed by a
// well-formed record.
func FuzzDecodeMember(f *testing.F) {
	sid := strings.Repeat("a", sidLen)
	f.Add(sid + string(record.Encode(record.Member{Capabilities: []byte("caps")})))
	f.Add(sid)
	f.Add("short")
	f.Add("")
	f.Add(sid + "tz1\xff")
	c := &conn{log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, val string) {
		info, ok := c.decodeMember("g", "m", val)
		if !ok {
			return
		}
		m, err := record.Decode([]byte(val[sidLen:]))
		if err != nil || info.ID != "m" || string(m.Capabilities) != string(info.Capabilities) {
			t.Fatalf("accepted %q as %+v (%v)", val, info, err)
		}
	})
}
