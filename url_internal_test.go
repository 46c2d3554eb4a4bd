// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"slices"
	"testing"
)

type nopDriver struct{}

func (nopDriver) Options() []string { return []string{"extra"} }
func (nopDriver) Open(context.Context, Config) (CoordinationDriver, error) {
	return nil, ErrNotSupported
}

func init() { Register("parsetest", nopDriver{}) }

func TestParseURLHosts(t *testing.T) {
	for _, tc := range []struct {
		url   string
		hosts []string
		path  string
		opts  map[string]string
	}{
		{"parsetest://n1:7000,n2:7001,n3/chroot?extra=1", []string{"n1:7000", "n2:7001", "n3"}, "/chroot", map[string]string{"extra": "1"}},
		{"parsetest://u:p@h", []string{"h"}, "", map[string]string{}},
		{"parsetest:///dir", nil, "/dir", map[string]string{}},
	} {
		_, cfg, err := parseURL(tc.url, &options{}, nil)
		if err != nil {
			t.Fatalf("parseURL(%q): %v", tc.url, err)
		}
		if !slices.Equal(cfg.Hosts, tc.hosts) || cfg.URL.Path != tc.path || len(cfg.Options) != len(tc.opts) || cfg.Options["extra"] != tc.opts["extra"] {
			t.Errorf("parseURL(%q) = hosts %q path %q options %v", tc.url, cfg.Hosts, cfg.URL.Path, cfg.Options)
		}
		if cfg.Timeout != DefaultTimeout || cfg.Namespace != DefaultNamespace {
			t.Errorf("defaults: %v %q", cfg.Timeout, cfg.Namespace)
		}
	}
}
