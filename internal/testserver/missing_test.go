// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"fmt"
	"strings"
	"testing"
)

// recordingTB records Skip and Fatalf instead of ending the test.
type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Helper()                      {}
func (r *recordingTB) Skip(args ...any)             { r.skipped = fmt.Sprint(args...) }
func (r *recordingTB) Fatalf(f string, args ...any) { r.fatal = fmt.Sprintf(f, args...) }

func TestMissingBinary(t *testing.T) {
	for _, c := range []struct {
		ci       string
		wantFail bool
	}{
		{"", false},
		{"false", false},
		{"true", true},
		{"1", true},
	} {
		t.Run("CI="+c.ci, func(t *testing.T) {
			t.Setenv("CI", c.ci)
			t.Setenv("TOOZ_REDIS_SERVER", "/nonexistent/redis-server")
			r := &recordingTB{TB: t}
			if got := findBinary(r, "TOOZ_REDIS_SERVER", "redis-server", "redis-server"); got != "" {
				t.Fatalf("found %q through an unusable override", got)
			}
			msg := r.skipped
			if c.wantFail {
				msg = r.fatal
				if r.skipped != "" {
					t.Errorf("skipped under CI=%s: %s", c.ci, r.skipped)
				}
			} else if r.fatal != "" {
				t.Errorf("failed without CI: %s", r.fatal)
			}
			if !strings.Contains(msg, "TOOZ_REDIS_SERVER") || !strings.Contains(msg, "scripts/install-servers.sh") {
				t.Errorf("message %q should name the variable and the install command", msg)
			}
		})
	}
}

func TestFreePortsDistinct(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 20; i++ {
		ports, err := freePorts(3)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
		}
	}
}
