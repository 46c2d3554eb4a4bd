// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// FuzzConfig builds the Config that tooz.Open would hand a driver for a
// URL made of these parts, keeping only the options in accepted (the
// driver's own, as the core does); ok is false for parts the core would
// reject before the driver.
func FuzzConfig(scheme, hosts, path, user, pass, query string, timeout int64, accepted []string) (cfg tooz.Config, ok bool) {
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path // a URL with hosts has an absolute path
	}
	u := &url.URL{Scheme: scheme, Host: hosts, Path: path, RawQuery: query}
	if user != "" || pass != "" {
		u.User = url.UserPassword(user, pass)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return cfg, false
	}
	cfg = tooz.Config{
		URL:       u,
		Options:   map[string]string{},
		MemberID:  "m",
		Timeout:   time.Duration(timeout),
		Namespace: "tooz",
		Logger:    slog.New(slog.DiscardHandler),
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = tooz.DefaultTimeout
	}
	for k, vs := range q {
		if !slices.Contains(accepted, k) || len(vs) != 1 {
			return cfg, false
		}
		cfg.Options[k] = vs[0]
	}
	if hosts != "" {
		cfg.Hosts = strings.Split(hosts, ",")
		if slices.Contains(cfg.Hosts, "") {
			return cfg, false
		}
	}
	return cfg, true
}

// CheckParseError fails t unless err wraps tooz.ErrInvalidURL and keeps
// the password (when it is long enough to tell, and found in none of
// others) out.
func CheckParseError(t testing.TB, err error, pass string, others ...string) {
	t.Helper()
	if !errors.Is(err, tooz.ErrInvalidURL) {
		t.Fatalf("parse error %v does not wrap ErrInvalidURL", err)
	}
	if len(pass) >= 6 && strings.Contains(err.Error(), pass) && !strings.Contains(strings.Join(others, "\x00"), pass) {
		t.Fatalf("parse error %q shows the password %q", err, pass)
	}
}
