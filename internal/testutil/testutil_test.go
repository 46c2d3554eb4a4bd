// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

func TestFuzzConfig(t *testing.T) {
	cfg, ok := FuzzConfig("etcd", "h1,h2:2379", "ns", "u", "secret-pw", "a=1", 0, []string{"a"})
	if !ok {
		t.Fatal("a URL the core accepts was refused")
	}
	if cfg.URL.Path != "/ns" || cfg.URL.User.Username() != "u" || cfg.Options["a"] != "1" ||
		len(cfg.Hosts) != 2 || cfg.Timeout != tooz.DefaultTimeout || cfg.MemberID != "m" {
		t.Fatalf("config %+v", cfg)
	}
	for _, c := range []struct{ hosts, query string }{
		{"h", "b=1"},     // not an option of the driver's
		{"h", "a=1&a=2"}, // given twice
		{"h,,g", ""},     // an empty host
		{"h", "a=%zz"},   // not a query
	} {
		if _, ok := FuzzConfig("etcd", c.hosts, "", "", "", c.query, int64(time.Second), []string{"a"}); ok {
			t.Errorf("hosts %q query %q accepted", c.hosts, c.query)
		}
	}
}

func TestCheckParseError(t *testing.T) {
	CheckParseError(t, fmt.Errorf("bad: %w", tooz.ErrInvalidURL), "secret-pw")
	// A password also found in the URL's other parts may show.
	CheckParseError(t, fmt.Errorf("bad host secret-pw: %w", tooz.ErrInvalidURL), "secret-pw", "secret-pw")
}

func TestLogBufferAndCheckNoSecret(t *testing.T) {
	var b LogBuffer
	b.Logger().Debug("hello", "k", "v")
	if !strings.Contains(b.String(), "hello") {
		t.Fatalf("debug line not kept: %q", b.String())
	}
	CheckNoSecret(t, []string{b.String(), "an error"}, "secret-pw")
}

func TestUnique(t *testing.T) {
	a, b := Unique("g"), Unique("g")
	if a == b || !strings.HasPrefix(a, "g-") || len(a) != len("g-")+12 {
		t.Fatalf("Unique: %q, %q", a, b)
	}
}

func TestWaitClosedAndContext(t *testing.T) {
	ch := make(chan struct{})
	close(ch)
	WaitClosed(t, ch, time.Second, "a closed channel")
	ctx := Context(t, time.Minute)
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Minute {
		t.Fatalf("deadline %v, %v", d, ok)
	}
	Must(t, nil, "nothing")
	if ClosedPort(t) == "" {
		t.Fatal("no address")
	}
}

func TestCheckOnlyABAndFirstJoin(t *testing.T) {
	ctx := Context(t, time.Minute)
	u := "memory://" + Unique("testutil")
	a := Open(t, 10*time.Second, u, "a")
	g := Unique("g")
	Must(t, a.JoinGroupCreate(ctx, g, []byte("caps-a")), "a joins")
	joined := make(chan string, 4)
	w, err := a.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) { joined <- e.Member })
	Must(t, err, "watch")
	defer w.Stop()
	b := Open(t, 10*time.Second, u, "b")
	Must(t, b.JoinGroup(ctx, g, []byte("caps-b")), "b joins")
	CheckFirstJoin(t, joined, "b", 10*time.Second)
	CheckOnlyAB(t, ctx, a, g)
}
