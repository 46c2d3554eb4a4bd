// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/testutil"
)

// FuzzParse feeds the driver's URL validation arbitrary URLs: it never
// panics, rejects with ErrInvalidURL without showing the password, and
// accepts with one host:port per host (a port in 1..65535), a chroot that
// ZooKeeper takes as a path, and digest credentials only with a user name.
func FuzzParse(f *testing.F) {
	f.Add("127.0.0.1:2181,h2", "/chroot/x", "app", "right-pw-123", "", int64(10*time.Second))
	f.Add("[::1]", "", "", "", "", int64(0))
	f.Add("h:99999", "/a//b", "", "secret-pw", "", int64(time.Millisecond))
	f.Add("h:x", "/a/../b", "u:v", "pw", "bogus=1", int64(-1))
	f.Add("h", "/\x01", "u", "", "", int64(1<<62))
	f.Add("h:0", "/", "", "", "", int64(1))
	f.Fuzz(func(t *testing.T, hosts, path, user, pass, query string, timeout int64) {
		cfg, ok := testutil.FuzzConfig("zookeeper", hosts, path, user, pass, query, timeout, nil)
		if !ok {
			return
		}
		s, err := parse(cfg)
		if err != nil {
			testutil.CheckParseError(t, err, pass, hosts, path, user, query)
			return
		}
		if len(s.hosts) != len(cfg.Hosts) || len(s.hosts) == 0 {
			t.Fatalf("hosts %q from %q", s.hosts, hosts)
		}
		for _, h := range s.hosts {
			port := h[strings.LastIndex(h, ":")+1:]
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				t.Fatalf("host %q from %q", h, hosts)
			}
		}
		if s.chroot != "" {
			if !strings.HasPrefix(s.chroot, "/") || strings.HasSuffix(s.chroot, "/") || strings.Contains(s.chroot, "//") {
				t.Fatalf("chroot %q from path %q", s.chroot, path)
			}
			for _, seg := range strings.Split(s.chroot[1:], "/") {
				if seg == "." || seg == ".." {
					t.Fatalf("chroot %q from path %q", s.chroot, path)
				}
			}
		}
		if s.auth != nil && (user == "" || strings.Contains(user, ":") || string(s.auth) != user+":"+pass) {
			t.Fatalf("auth %q from user %q", s.auth, user)
		}
		if s.timeout <= 0 {
			t.Fatalf("timeout %v", s.timeout)
		}
	})
}

// FuzzPredecessor feeds the lock recipe's reading of a contender
// directory arbitrary child names (anyone with access may create znodes
// there): it never panics, the predecessor is a contender with a lower
// sequence than ours and the highest such, and the count of lower
// contenders is right.
func FuzzPredecessor(f *testing.F) {
	f.Add("c_a_0000000001,c_b_0000000002,garbage,c__,c_x_-5", int64(2))
	f.Add("", int64(0))
	f.Add("c_a_9223372036854775807,c_b_1", int64(9223372036854775807))
	f.Add("c_,_1,c_a_01,c_a_1", int64(1))
	f.Fuzz(func(t *testing.T, list string, seq int64) {
		children := strings.Split(list, ",")
		mine := "c_me_" + strconv.FormatInt(seq, 10)
		children = append(children, mine)
		pred, lower, present := predecessor(children, mine, seq)
		if !present {
			t.Fatalf("own znode %q not found in %q", mine, children)
		}
		want, best := 0, int64(0)
		for _, ch := range children {
			if ch == mine {
				continue
			}
			if n, ok := seqOf(ch); ok && n < seq {
				if want == 0 || n > best {
					best = n
				}
				want++
			}
		}
		if lower != want {
			t.Fatalf("%d lower contenders in %q, want %d", lower, children, want)
		}
		if want == 0 {
			if pred != "" {
				t.Fatalf("predecessor %q with no lower contender in %q", pred, children)
			}
			return
		}
		if n, ok := seqOf(pred); !ok || n != best || !slices.Contains(children, pred) {
			t.Fatalf("predecessor %q in %q, want sequence %d", pred, children, best)
		}
	})
}
