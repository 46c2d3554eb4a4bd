// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/toozgo/tooz"
)

// fuzzScheme is a driver that checks the Config the core hands it and
// stops there: FuzzOpenURL reaches a driver without any I/O.
const fuzzScheme = "fuzzstub"

// errStubReached is what the stub driver returns once the Config passed its checks.
var errStubReached = errors.New("stub driver reached")

// fuzzSecretOptions are the stub's options whose values the core must mask.
var fuzzSecretOptions = []string{"password", "token", "secret"}

type fuzzStubDriver struct{}

func (fuzzStubDriver) Options() []string { return append([]string{"opt"}, fuzzSecretOptions...) }

// Open checks the invariants the Config documents, then fails with
// errStubReached (or with a description of the broken invariant).
func (fuzzStubDriver) Open(_ context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	switch {
	case cfg.URL == nil:
		return nil, errors.New("BROKEN: nil URL")
	case !strings.EqualFold(cfg.URL.Scheme, fuzzScheme):
		return nil, fmt.Errorf("BROKEN: scheme %q", cfg.URL.Scheme)
	case cfg.Timeout <= 0:
		return nil, fmt.Errorf("BROKEN: timeout %v", cfg.Timeout)
	case cfg.Logger == nil:
		return nil, errors.New("BROKEN: nil logger")
	case tooz.ValidateID(cfg.Namespace) != nil:
		return nil, fmt.Errorf("BROKEN: namespace %q", cfg.Namespace)
	case tooz.ValidateID(cfg.MemberID) != nil:
		return nil, fmt.Errorf("BROKEN: member %q", cfg.MemberID)
	}
	for k := range cfg.Options {
		if !slices.Contains(fuzzStubDriver{}.Options(), k) {
			return nil, fmt.Errorf("BROKEN: option %q reached the driver", k)
		}
	}
	for _, h := range cfg.Hosts {
		if h == "" {
			return nil, fmt.Errorf("BROKEN: empty host in %q", cfg.Hosts)
		}
	}
	// The redacted URL holds no secret: neither the password nor the value
	// of a secret option (unless the same text is also somewhere else).
	red := cfg.Redacted()
	var secrets []string
	if pw, ok := cfg.URL.User.Password(); ok {
		secrets = append(secrets, pw)
	}
	for _, k := range fuzzSecretOptions {
		if v, ok := cfg.Options[k]; ok {
			secrets = append(secrets, v)
		}
	}
	rest := nonSecretParts(cfg.URL)
	for _, s := range secrets {
		if len(s) >= minSecretLen && strings.Contains(red, s) && !strings.Contains(rest, s) {
			return nil, fmt.Errorf("BROKEN: Redacted() = %q shows the secret %q", red, s)
		}
	}
	return nil, errStubReached
}

// minSecretLen is the shortest secret whose appearance in a message counts
// as a leak: shorter ones match by chance (and net/url quotes the 3-byte
// escape it rejects).
const minSecretLen = 6

// nonSecretParts returns every part of u but its secrets, raw and decoded.
func nonSecretParts(u *url.URL) string {
	var b strings.Builder
	for _, s := range []string{u.Scheme, u.Opaque, u.Host, u.Path, u.RawPath, u.Fragment, u.RawFragment, u.User.Username()} {
		b.WriteString(s + "\x00")
	}
	if u.User != nil {
		b.WriteString(url.User(u.User.Username()).String() + "\x00")
	}
	q, _ := url.ParseQuery(u.RawQuery)
	for k, vs := range q {
		b.WriteString(k + "\x00")
		if !slices.Contains(fuzzSecretOptions, strings.ToLower(k)) {
			for _, v := range vs {
				b.WriteString(v + "\x00")
			}
		}
	}
	return b.String()
}

func init() { tooz.Register(fuzzScheme, fuzzStubDriver{}) }

// rawSecrets extracts the password and the secret option values from raw
// as written (and percent-decoded), without net/url, whose parse may fail.
// rest is raw without them.
func rawSecrets(raw string) (secrets []string, rest string) {
	rest = raw
	if i := strings.Index(raw, "://"); i >= 0 {
		auth := raw[i+3:]
		if end := strings.IndexAny(auth, "/?#"); end >= 0 {
			auth = auth[:end]
		}
		if at := strings.LastIndex(auth, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(auth[:at], ":"); ok {
				secrets = append(secrets, pw)
				rest = strings.Replace(rest, pw, "", 1)
			}
		}
	}
	if _, query, ok := strings.Cut(raw, "?"); ok {
		query, _, _ = strings.Cut(query, "#")
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if slices.Contains(fuzzSecretOptions, strings.ToLower(k)) {
				secrets = append(secrets, v)
				rest = strings.Replace(rest, v, "", 1)
			}
		}
	}
	for _, s := range secrets {
		if d, err := url.PathUnescape(s); err == nil && d != s {
			secrets = append(secrets, d)
		}
		if d, err := url.QueryUnescape(s); err == nil && d != s {
			secrets = append(secrets, d)
		}
	}
	return secrets, rest
}

// FuzzOpenURL feeds tooz.Open arbitrary URLs and member IDs. Open never
// panics; it either reaches the driver with a Config that keeps its
// documented invariants, or fails with ErrInvalidURL, ErrUnknownDriver or
// ErrInvalidID; and no error, nor the coordinator's URL, shows a password
// or a secret option's value.
func FuzzOpenURL(f *testing.F) {
	for _, s := range []struct{ url, member string }{
		{"fuzzstub://host:1234", "m"},
		{"fuzzstub://user:hunter2-pw@h1:1,h2,[::1]:3/path?opt=1&token=s3cr3t-tok", "m"},
		{"FUZZSTUB://h?timeout=2.5&namespace=a/b", "member/../é"},
		{"fuzzstub://user:p%40ss%zzword@h", "m"},
		{"fuzzstub://user:passw0rd@ho st", "m"},
		{"fuzzstub://h?password=hunter22&password=x", "m"},
		{"fuzzstub://h?token=%zz-secret", "m"},
		{"fuzzstub://h?timeout=0", "m"},
		{"fuzzstub://a,,b", "m"},
		{"fuzzstub://[::1", "m"},
		{"fuzzstub://h:99999", "m"},
		{"fuzzstub:///only/path", "m"},
		{"fuzzstub:opaque", "m"},
		{"fuzzstub://h?namespace=", "m"},
		{"fuzzstub://h", ""},
		{"fuzzstub://h", "\xff"},
		{"fuzzstub://h", strings.Repeat("x", 256)},
		{"memory://user:hunter2-pw@x?namespace=fz", "m"},
		{"memory://x?bogus=1", "m"},
		{"nosuch://user:hunter2-pw@host", "m"},
		{"%zz://x", "m"},
		{"no-scheme", "m"},
		{"", "m"},
		{"fuzzstub://user:pw-in-host@pw-in-host:1", "m"},
		{"fuzzstub://u:secret-value@h?opt=%zz", "m"},
		{"fuzzstub://u:secret-value@h#frag%zz", "m"},
	} {
		f.Add(s.url, s.member)
	}
	f.Fuzz(func(t *testing.T, raw, member string) {
		ctx := context.Background()
		c, err := tooz.Open(ctx, raw, member, tooz.WithoutHeart())
		if c != nil {
			defer c.Close(ctx)
		}
		secrets, rest := rawSecrets(raw)
		schemes := strings.Join(tooz.Schemes(), " ") // listed by some errors
		leaks := func(what, s string) {
			for _, sec := range secrets {
				if len(sec) >= minSecretLen && strings.Contains(s, sec) && !strings.Contains(rest, sec) &&
					!strings.Contains(member, sec) && !strings.Contains(schemes, sec) {
					t.Fatalf("Open(%q, %q): %s %q shows the secret %q", raw, member, what, s, sec)
				}
			}
		}
		if err == nil {
			if c == nil {
				t.Fatalf("Open(%q, %q): no coordinator and no error", raw, member)
			}
			leaks("URL()", c.URL())
			return
		}
		if c != nil {
			t.Fatalf("Open(%q, %q) returned a coordinator with error %v", raw, member, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "BROKEN") {
			t.Fatalf("Open(%q, %q): %v", raw, member, err)
		}
		if !errors.Is(err, errStubReached) && !errors.Is(err, tooz.ErrInvalidURL) &&
			!errors.Is(err, tooz.ErrUnknownDriver) && !errors.Is(err, tooz.ErrInvalidID) {
			t.Fatalf("Open(%q, %q) = %v: not ErrInvalidURL, ErrUnknownDriver or ErrInvalidID", raw, member, err)
		}
		if !utf8.ValidString(member) || member == "" || len(member) > tooz.MaxIDLength {
			if !errors.Is(err, tooz.ErrInvalidID) {
				t.Fatalf("Open(%q, %q) = %v, want ErrInvalidID for the member", raw, member, err)
			}
		}
		var te *tooz.Error
		if !errors.As(err, &te) {
			t.Fatalf("Open(%q, %q) = %T %v, want a *tooz.Error", raw, member, err, err)
		}
		leaks("error", msg)
	})
}

// TestSchemelessURLHidesPassword: a URL whose scheme is mistyped so that
// net/url sees none ("redis//user:pw@host", missing colon) is no URL with
// credentials to net/url, so redaction cannot find the password, and the
// "no scheme" error of parseURL (url.go) must not quote the input. Found
// by FuzzOpenURL.
func TestSchemelessURLHidesPassword(t *testing.T) {
	for _, u := range []string{"redis//user:hunter2-pw@host", "#://:hunter2-pw@"} {
		_, err := tooz.Open(context.Background(), u, "m")
		if !errors.Is(err, tooz.ErrInvalidURL) {
			t.Fatalf("Open(%q) = %v, want ErrInvalidURL", u, err)
		}
		if strings.Contains(err.Error(), "hunter2-pw") {
			t.Fatalf("the error for %q shows the password: %v", u, err)
		}
	}
}
