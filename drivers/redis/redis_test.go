// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestURLValidation checks option values before any I/O: the port is closed,
// so a URL that passed validation would fail with ErrConnection instead.
func TestURLValidation(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{
		"redis://127.0.0.1:1?lock_ttl=abc",
		"redis://127.0.0.1:1?lock_ttl=1ms",
		"redis://127.0.0.1:1?pool_size=-1",
		"redis://127.0.0.1:1?dial_timeout=0",
		"redis://127.0.0.1:1?read_timeout=x",
		"redis://127.0.0.1:1/x",
		"redis://127.0.0.1:1/-1",
		"redis://127.0.0.1:1?master=m",
		"redis://127.0.0.1:1?bogus=1",
		"redis://127.0.0.1:1,127.0.0.1:2/3",
		"redis+sentinel://127.0.0.1:1",
		"redis://127.0.0.1:1?timeout=5ms",
	} {
		c, err := tooz.Open(ctx, u, "m")
		if !errors.Is(err, tooz.ErrInvalidURL) {
			if c != nil {
				_ = c.Close(ctx)
			}
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", u, err)
		}
	}
}

// TestParse pins how URLs map to go-redis options.
func TestParse(t *testing.T) {
	open := func(scheme, raw string) *settings {
		t.Helper()
		d := driver{tls: scheme == "rediss", sentinel: scheme == "redis+sentinel"}
		cfg, err := configFor(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		s, err := d.parse(cfg)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return s
	}
	s := open("redis", "redis://u:p@h1/3?lock_ttl=2s&pool_size=7&dial_timeout=1s&read_timeout=250ms&namespace=a/b")
	o := s.client
	if got := strings.Join(o.Addrs, ","); got != "h1:6379" || o.DB != 3 || o.Username != "u" || o.Password != "p" ||
		o.PoolSize != 7 || o.DialTimeout != time.Second || o.ReadTimeout != 250*time.Millisecond || o.TLSConfig != nil ||
		s.lockTTL != 2*time.Second || s.prefix != "{a%2Fb}" {
		t.Errorf("redis URL parsed as %+v, lock_ttl %v, prefix %q", o, s.lockTTL, s.prefix)
	}
	s = open("rediss", "rediss://cache.example:6380")
	if s.client.TLSConfig == nil || s.client.TLSConfig.ServerName != "cache.example" || s.client.Addrs[0] != "cache.example:6380" {
		t.Errorf("rediss URL parsed as %+v", s.client)
	}
	s = open("redis+sentinel", "redis+sentinel://s1,s2:26380/1?master=mymaster")
	if got := strings.Join(s.client.Addrs, ","); got != "s1:26379,s2:26380" || s.client.MasterName != "mymaster" || s.client.DB != 1 {
		t.Errorf("sentinel URL parsed as %+v", s.client)
	}
	s = open("redis", "redis://n1,n2:7001,n3:7002")
	if got := strings.Join(s.client.Addrs, ","); got != "n1:6379,n2:7001,n3:7002" {
		t.Errorf("cluster URL parsed as %q", got)
	}
}

// TestConnectionRefusedHidesPassword opens a closed port.
func TestConnectionRefusedHidesPassword(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = tooz.Open(ctx, "redis://user:hunter2@"+addr+"/0", "m")
	if !errors.Is(err, tooz.ErrConnection) {
		t.Fatalf("Open on a closed port: %v, want ErrConnection", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the error shows the password: %v", err)
	}
	t.Logf("error: %v", err)
}

// TestAuth uses an ACL user: a wrong password is ErrAuth (without the
// password in the message), the right one works.
func TestAuth(t *testing.T) {
	s := testserver.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	user := testutil.Unique("user")
	if err := raw(t, s).Do(ctx, "ACL", "SETUSER", user, "on", ">right-pass-42", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	ns := testutil.Unique("auth")
	_, err := tooz.Open(ctx, "redis://"+user+":wrong-pass-17@"+s.Addr+"/0?namespace="+ns, "m")
	if !errors.Is(err, tooz.ErrAuth) {
		t.Fatalf("wrong password: %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "wrong-pass-17") {
		t.Fatalf("the error shows the password: %v", err)
	}
	t.Logf("error: %v", err)
	c := open(t, "redis://"+user+":right-pass-42@"+s.Addr+"/0?namespace="+ns, "m")
	if strings.Contains(c.URL(), "right-pass-42") {
		t.Fatalf("URL() shows the password: %s", c.URL())
	}
	g := testutil.Unique("g")
	if err := c.JoinGroupCreate(ctx, g, nil); err != nil {
		t.Fatalf("join with the right password: %v", err)
	}
	// rediss:// on a plain-text server fails as a connection error.
	_, err = tooz.Open(ctx, "rediss://"+s.Addr+"/0?dial_timeout=2s", "m")
	if !errors.Is(err, tooz.ErrConnection) {
		t.Fatalf("TLS to a plain-text server: %v, want ErrConnection", err)
	}
}

// configFor builds the tooz.Config that tooz.Open would hand the driver.
func configFor(raw string) (tooz.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return tooz.Config{}, err
	}
	cfg := tooz.Config{URL: u, Options: map[string]string{}, MemberID: "m", Timeout: tooz.DefaultTimeout,
		Namespace: tooz.DefaultNamespace, Logger: slog.Default()}
	if u.Host != "" {
		cfg.Hosts = strings.Split(u.Host, ",")
	}
	for k, v := range u.Query() {
		switch k {
		case "namespace":
			cfg.Namespace = v[0]
		default:
			cfg.Options[k] = v[0]
		}
	}
	return cfg, nil
}
