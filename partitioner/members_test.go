// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/partitioner"
)

// streamless opens memory:// coordinators whose driver hides
// tooz.MemberWatcher, as a third-party driver without it would: the
// Partitioner then follows joins and leaves and reads capabilities itself.
type streamless struct{}

func (streamless) Options() []string { return nil }

func (streamless) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	inner, err := tooz.Open(ctx, "memory://"+cfg.URL.Host, cfg.MemberID, tooz.WithoutHeart(), tooz.WithTimeout(cfg.Timeout))
	if err != nil {
		return nil, err
	}
	return plainDriver{inner.Driver()}, nil
}

// plainDriver has only the methods of the mandatory contract.
type plainDriver struct{ tooz.CoordinationDriver }

func init() { tooz.Register("memory-streamless", streamless{}) }

func TestStreamlessDriverStillWorks(t *testing.T) {
	url := "memory-streamless://" + unique("part")
	a := open(t, url, "a")
	b := open(t, url, "b")
	ra, rb := newRebalances(), newRebalances()
	pa := start(t, a, "g", partitioner.WithWeight(2), partitioner.WithRebalance(10*time.Millisecond, nil, ra.fn))
	pb := start(t, b, "g", partitioner.WithRebalance(10*time.Millisecond, nil, rb.fn))
	ra.until(t, []string{"a", "b"})
	rb.until(t, []string{"a", "b"})
	if w, ok := pb.Weight("a"); !ok || w != 2 {
		t.Fatalf("b sees a's weight %d, %v; want 2 (read from its capabilities)", w, ok)
	}
	if err := pa.SetWeight(t.Context(), 3); !errors.Is(err, tooz.ErrNotSupported) {
		t.Fatalf("SetWeight on a driver without update events: %v, want ErrNotSupported", err)
	}
}

// untilWeight waits, rebalance by rebalance, until p gives member weight w.
func untilWeight(t *testing.T, r *rebalances, p *partitioner.Partitioner, member string, w int) {
	t.Helper()
	for {
		if got, ok := p.Weight(member); ok && got == w {
			return
		}
		r.next(t, fmt.Sprintf("%s's weight %d", member, w))
	}
}

func TestSetWeightAppliesLive(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			ca := open(t, url, "a")
			cb := open(t, url, "b")
			ra, rb := newRebalances(), newRebalances()
			pa := start(t, ca, "g", partitioner.WithRebalance(10*time.Millisecond, nil, ra.fn))
			pb := start(t, cb, "g", partitioner.WithRebalance(10*time.Millisecond, nil, rb.fn))
			rb.until(t, []string{"a", "b"})
			untilWeight(t, rb, pb, "a", 1)
			if err := pa.SetWeight(t.Context(), 4); err != nil {
				t.Fatal(err)
			}
			untilWeight(t, rb, pb, "a", 4)
			untilWeight(t, ra, pa, "a", 4)
			if err := pa.SetWeight(t.Context(), 0); !errors.Is(err, partitioner.ErrInvalidWeight) {
				t.Fatalf("SetWeight(0): %v, want ErrInvalidWeight", err)
			}
			// Other fields of a JSON object survive.
			if err := cb.UpdateCapabilities(t.Context(), "g", []byte(`{"zone":"x","weight":1}`)); err != nil {
				t.Fatal(err)
			}
			if err := pb.SetWeight(t.Context(), 2); err != nil {
				t.Fatal(err)
			}
			caps, err := ca.MemberCapabilities(t.Context(), "g", "b")
			if err != nil || string(caps) != `{"weight":2,"zone":"x"}` {
				t.Fatalf("b's capabilities after SetWeight: %s, %v", caps, err)
			}
			untilWeight(t, ra, pa, "b", 2)
		})
	}
}

func TestAssignAtOnce(t *testing.T) {
	url := "memory://" + unique("part")
	ca, cb := open(t, url, "a"), open(t, url, "b")
	ra, rb := newRebalances(), newRebalances()
	pa := start(t, ca, "g", partitioner.WithRebalance(10*time.Millisecond, nil, ra.fn))
	pb := start(t, cb, "g", partitioner.WithRebalance(10*time.Millisecond, nil, rb.fn))
	ra.until(t, []string{"a", "b"})
	rb.until(t, []string{"a", "b"})
	items := []string{"i1", "i2", "i3", "i4", "i5", "i6", "i1"}
	as := pa.Assign(items)
	n := 0
	for m, its := range as {
		for _, it := range its {
			n++
			if !pa.BelongsTo(it, m) {
				t.Errorf("Assign gives %s to %s, BelongsTo disagrees", it, m)
			}
		}
	}
	if n != 6 {
		t.Fatalf("Assign placed %d items, want the 6 distinct ones once each: %v", n, as)
	}
	if got := pb.Assign(items); !equalAssignments(got, as) {
		t.Fatalf("two members disagree: %v and %v", as, got)
	}
}

func equalAssignments(a, b partitioner.Assignment) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// Without WithLogger the Partitioner writes to its coordinator's logger,
// and finding its member already in the group is no INFO line.
func TestLogsThroughCoordinator(t *testing.T) {
	url, group := "memory://"+unique("log"), unique("group")
	var logs syncBuffer
	c, err := tooz.Open(t.Context(), url, "p", tooz.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	if err := c.JoinGroupCreate(t.Context(), group, []byte(`{"weight":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := open(t, url, "odd").JoinGroup(t.Context(), group, []byte("not JSON")); err != nil {
		t.Fatal(err)
	}
	start(t, c, group)
	out := logs.String()
	if !strings.Contains(out, "member=odd") || !strings.Contains(out, "tooz.group="+group) {
		t.Errorf("the odd member's weight was not logged through the coordinator's logger:\n%s", out)
	}
	if strings.Contains(out, "already") {
		t.Errorf("an INFO line about the member being in the group already:\n%s", out)
	}
}
