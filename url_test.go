// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

func TestOpenRejectsBadURLs(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		url  string
		want error
	}{
		{"nosuch://host", tooz.ErrUnknownDriver},
		{"no-scheme-here", tooz.ErrInvalidURL},
		{"memory://x?bogus=1", tooz.ErrInvalidURL},
		{"memory://x?timeout=soon", tooz.ErrInvalidURL},
		{"memory://x?timeout=-1s", tooz.ErrInvalidURL},
		{"memory://x?timeout=1ms", tooz.ErrInvalidURL},
		{"memory://x?timeout=1s&timeout=2s", tooz.ErrInvalidURL},
		{"memory://x?namespace=", tooz.ErrInvalidURL},
		{"memory://a,,b", tooz.ErrInvalidURL},
		{"memory://x\x7f", tooz.ErrInvalidURL},
		{"%zz://x", tooz.ErrInvalidURL},
	}
	for _, tc := range cases {
		c, err := tooz.Open(ctx, tc.url, "m")
		if !errors.Is(err, tc.want) {
			t.Errorf("Open(%q) = %v, want %v", tc.url, err, tc.want)
		}
		if c != nil {
			t.Errorf("Open(%q) returned a coordinator with error %v", tc.url, err)
			c.Close(ctx)
		}
	}
}

func TestUnknownDriverListsSchemes(t *testing.T) {
	_, err := tooz.Open(context.Background(), "nosuch://h", "m")
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("error %v does not list the registered schemes", err)
	}
}

func TestPasswordsNeverInErrors(t *testing.T) {
	for _, u := range []string{
		"nosuch://user:hunter2@host",
		"memory://user:hunter2@host?bogus=1",
		"memory://host?token=hunter2&bogus=1",
		"memory://user:hunter2@host?timeout=x",
		"memory://user:hunter2@ho st",
	} {
		_, err := tooz.Open(context.Background(), u, "m")
		if err == nil {
			t.Fatalf("Open(%q) succeeded", u)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error for %q reveals the secret: %v", u, err)
		}
	}
}

func TestOptionsOverrideURL(t *testing.T) {
	ctx := context.Background()
	c, err := tooz.Open(ctx, "memory://override?timeout=9s", "m", tooz.WithTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if c.Timeout() != 3*time.Second {
		t.Fatalf("Timeout() = %v, want the Option's 3s over the URL's 9s", c.Timeout())
	}
	d, err := tooz.Open(ctx, "memory://override?timeout=2.5", "n")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	if d.Timeout() != 2500*time.Millisecond {
		t.Fatalf("plain seconds: Timeout() = %v", d.Timeout())
	}
}

func TestNamespacesIsolate(t *testing.T) {
	ctx := context.Background()
	store := fmt.Sprintf("memory://ns-%d", time.Now().UnixNano())
	a, err := tooz.Open(ctx, store+"?namespace=one", "a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	b, err := tooz.Open(ctx, store, "b", tooz.WithNamespace("two"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if err := a.CreateGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateGroup(ctx, "g"); err != nil {
		t.Fatalf("namespace two sees namespace one's group: %v", err)
	}
}

func TestRedactedURL(t *testing.T) {
	c, err := tooz.Open(context.Background(), "memory://user:hunter2@redact?namespace=n", "m")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if strings.Contains(c.URL(), "hunter2") || !strings.Contains(c.URL(), "user") {
		t.Fatalf("URL() = %q", c.URL())
	}
}

func TestErrorType(t *testing.T) {
	ctx := context.Background()
	c, err := tooz.Open(ctx, "memory://errtype", "m")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	err = c.DeleteGroup(ctx, "missing")
	var te *tooz.Error
	if !errors.As(err, &te) || te.Group != "missing" || te.Op != "delete" || !errors.Is(err, tooz.ErrGroupNotCreated) {
		t.Fatalf("got %#v", err)
	}
	if got := err.Error(); got != `tooz: delete group "missing": group not created` {
		t.Fatalf("message %q", got)
	}
	dctx, cancel := context.WithTimeout(ctx, -time.Second)
	defer cancel()
	if err := c.CreateGroup(dctx, "late"); !errors.Is(err, tooz.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expired context: %v, want ErrTimeout and DeadlineExceeded", err)
	}
}

func TestRequire(t *testing.T) {
	_, err := tooz.Open(context.Background(), "memory://req", "m", tooz.Require(tooz.DistributedAcrossHosts))
	if !errors.Is(err, tooz.ErrDriverChosenPoorly) || !strings.Contains(err.Error(), string(tooz.DistributedAcrossHosts)) {
		t.Fatalf("got %v", err)
	}
}

func TestHeartStats(t *testing.T) {
	ctx := context.Background()
	c, err := tooz.Open(ctx, "memory://stats", "m", tooz.WithoutHeart())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	next, err := c.Heartbeat(ctx)
	if err != nil || next <= 0 {
		t.Fatalf("Heartbeat = %v, %v", next, err)
	}
	if s := c.Stats(); s.Beats != 1 || s.FailedBeats != 0 {
		t.Fatalf("Stats() = %+v", s)
	}
}

func TestMultiHostURLs(t *testing.T) {
	for _, tc := range []struct {
		url   string
		hosts []string
	}{
		{"memory://n1:7000,n2:7001,n3/p?namespace=x", []string{"n1:7000", "n2:7001", "n3"}},
		{"memory://u:pw@n1,n2:2/p", []string{"n1", "n2:2"}},
		{"memory://[::1]:1,[::2]", []string{"[::1]:1", "[::2]"}},
	} {
		c, err := tooz.Open(context.Background(), tc.url, "m")
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		if strings.Contains(c.URL(), "pw") {
			t.Errorf("URL() = %q shows the password", c.URL())
		}
		c.Close(context.Background())
	}
	for _, bad := range []string{"memory://n1:x,n2", "memory://n1,n2:99999", "memory://[::1,n2"} {
		if _, err := tooz.Open(context.Background(), bad, "m"); !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", bad, err)
		}
	}
}
