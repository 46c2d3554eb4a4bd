// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/file"
	_ "github.com/toozgo/tooz/drivers/memory"
	"github.com/toozgo/tooz/partitioner"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// deadline bounds every wait on an event: a missing event fails the test
// instead of hanging it.
const deadline = 20 * time.Second

// backend names a way to open coordinators that share one state.
type backend struct {
	name string
	url  func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"memory", func(t *testing.T) string { return "memory://" + unique("part") }},
		{"file", func(t *testing.T) string { return "file://" + t.TempDir() }},
	}
}

func unique(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func open(t *testing.T, url, member string) *tooz.Coordinator {
	t.Helper()
	c, err := tooz.Open(t.Context(), url, member)
	if err != nil {
		t.Fatalf("open %s as %s: %v", url, member, err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func start(t *testing.T, c *tooz.Coordinator, group string, opts ...partitioner.Option) *partitioner.Partitioner {
	t.Helper()
	p, err := partitioner.New(t.Context(), c, group, opts...)
	if err != nil {
		t.Fatalf("partitioner.New for %s: %v", c.MemberID(), err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p
}

// rebalances collects a Partitioner's rebalance calls.
type rebalances struct {
	ch chan partitioner.Rebalance
}

func newRebalances() *rebalances { return &rebalances{ch: make(chan partitioner.Rebalance, 100)} }

func (r *rebalances) fn(rb partitioner.Rebalance) { r.ch <- rb }

// next returns the next call, or fails the test after deadline.
func (r *rebalances) next(t *testing.T, what string) partitioner.Rebalance {
	t.Helper()
	select {
	case rb := <-r.ch:
		return rb
	case <-time.After(deadline):
		t.Fatalf("no rebalance for %s within %v", what, deadline)
		return partitioner.Rebalance{}
	}
}

// until returns the first call whose membership is members, skipping
// earlier ones (partial views while members were still arriving).
func (r *rebalances) until(t *testing.T, members []string) partitioner.Rebalance {
	t.Helper()
	slices.Sort(members)
	for {
		rb := r.next(t, fmt.Sprintf("membership %q", members))
		if slices.Equal(rb.Members, members) {
			return rb
		}
	}
}

// TestAgreement: several coordinators, each with a Partitioner of its own
// weight, compute the same owners for every key once membership settles,
// and the same as a HashRing given the same weights; after one stops,
// the others agree again and only its keys moved.
func TestAgreement(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			url, group := be.url(t), unique("group")
			weights := map[string]int{"m0": 1, "m1": 2, "m2": 1, "m3": 3, "m4": 1}
			ids := slices.Sorted(maps.Keys(weights))
			ps := map[string]*partitioner.Partitioner{}
			recs := map[string]*rebalances{}
			for _, id := range ids {
				c := open(t, url, id)
				recs[id] = newRebalances()
				ps[id] = start(t, c, group, partitioner.WithWeight(weights[id]),
					partitioner.WithRebalance(50*time.Millisecond, nil, recs[id].fn))
			}
			for _, id := range ids {
				recs[id].until(t, ids)
				for m, w := range weights {
					if got, ok := ps[id].Weight(m); !ok || got != w {
						t.Fatalf("%s sees %s with weight %d (%v), want %d", id, m, got, ok, w)
					}
				}
			}
			ref := partitioner.NewHashRing(0)
			if err := ref.Set(weights); err != nil {
				t.Fatal(err)
			}
			ks := keys(10_000)
			before := owners(ref, ks)
			checkAgreement(t, ps, ks, before)

			// Every key belongs to exactly one member, by its own account.
			for i, k := range ks[:1000] {
				n := 0
				for _, id := range ids {
					if ps[id].BelongsToSelf(k) {
						n++
						if id != before[i] {
							t.Fatalf("%s claims %q, owned by %s", id, k, before[i])
						}
					}
				}
				if n != 1 {
					t.Fatalf("%d members claim key %q", n, k)
				}
			}

			if err := ps["m3"].Stop(t.Context()); err != nil {
				t.Fatalf("stop m3: %v", err)
			}
			delete(ps, "m3")
			rest := slices.DeleteFunc(slices.Clone(ids), func(s string) bool { return s == "m3" })
			for _, id := range rest {
				recs[id].until(t, rest)
			}
			delete(weights, "m3")
			if err := ref.Remove("m3"); err != nil {
				t.Fatal(err)
			}
			after := owners(ref, ks)
			checkAgreement(t, ps, ks, after)
			for i := range ks {
				if before[i] != after[i] && before[i] != "m3" {
					t.Fatalf("key %q moved from %s to %s when m3 left", ks[i], before[i], after[i])
				}
			}
		})
	}
}

func checkAgreement(t *testing.T, ps map[string]*partitioner.Partitioner, ks, want []string) {
	t.Helper()
	for id, p := range ps {
		for i, k := range ks {
			got := p.MembersFor(k, 1)
			if len(got) != 1 || got[0] != want[i] {
				t.Fatalf("%s: MembersFor(%q, 1) = %q, want %s", id, k, got, want[i])
			}
			if !p.BelongsTo(k, want[i]) {
				t.Fatalf("%s: BelongsTo(%q, %s) = false", id, k, want[i])
			}
		}
	}
}

// TestSoakOnce: the rebalance callback fires once per settled change,
// checked against the next (marker) change rather than by sleeping, and
// reports the items that moved.
func TestSoakOnce(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			const soak = 200 * time.Millisecond
			url, group := be.url(t), unique("group")
			items := keys(1000)
			rec := newRebalances()
			leader := open(t, url, "leader")
			lp := start(t, leader, group, partitioner.WithRebalance(soak, func() []string { return items }, rec.fn))

			first := rec.next(t, "the initial membership")
			if !first.Initial || !slices.Equal(first.Members, []string{"leader"}) {
				t.Fatalf("first rebalance: Initial %v, Members %q; want initial, [leader]", first.Initial, first.Members)
			}
			if len(first.Old) != 0 || len(first.New["leader"]) != len(items) || len(first.Added["leader"]) != len(items) {
				t.Fatalf("first rebalance: Old %d members, New[leader] %d items, Added[leader] %d, want 0, %d, %d",
					len(first.Old), len(first.New["leader"]), len(first.Added["leader"]), len(items), len(items))
			}

			// A burst of changes: three members join, one of them leaves.
			began := time.Now()
			workers := map[string]*tooz.Coordinator{}
			for _, id := range []string{"w1", "w2", "w3"} {
				workers[id] = open(t, url, id)
				if err := workers[id].JoinGroup(t.Context(), group, partitioner.Capabilities(1)); err != nil {
					t.Fatal(err)
				}
			}
			if err := workers["w2"].LeaveGroup(t.Context(), group); err != nil {
				t.Fatal(err)
			}
			burst := time.Since(began)
			settled := []string{"leader", "w1", "w3"}
			rb := rec.next(t, "the burst")
			if burst < soak/2 {
				// The burst fit well within the soak period: it must give
				// exactly one call, with its final membership.
				if !slices.Equal(rb.Members, settled) {
					t.Fatalf("rebalance after the burst has members %q, want %q (one call per settled change)", rb.Members, settled)
				}
			} else {
				t.Logf("the burst took %v (soak %v): the machine is too loaded to require one call", burst, soak)
				for !slices.Equal(rb.Members, settled) {
					rb = rec.next(t, "the burst")
				}
			}
			checkRebalance(t, lp, items, rb)
			if rb.Initial {
				t.Error("second rebalance has Initial set")
			}

			// Marker: one more member. The next call must be for it: no
			// extra call came for the burst in between.
			marker := open(t, url, "marker")
			if err := marker.JoinGroup(t.Context(), group, partitioner.Capabilities(1)); err != nil {
				t.Fatal(err)
			}
			rb2 := rec.next(t, "the marker")
			if want := []string{"leader", "marker", "w1", "w3"}; !slices.Equal(rb2.Members, want) {
				t.Fatalf("rebalance after the marker has members %q, want %q", rb2.Members, want)
			}
			checkRebalance(t, lp, items, rb2)
			for m, its := range rb2.Added {
				if m != "marker" && len(its) > 0 {
					t.Errorf("when marker joined, %s gained %d items", m, len(its))
				}
			}
			for m, its := range rb2.Removed {
				if m == "marker" {
					t.Errorf("marker lost %d items as it joined", len(its))
				}
			}
			if rb2.Old["w1"] == nil || !slices.Equal(rb2.Old["w1"], rb.New["w1"]) {
				t.Error("Old of the marker's rebalance is not New of the burst's")
			}
			select {
			case extra := <-rec.ch:
				t.Fatalf("unexpected extra rebalance with members %q", extra.Members)
			default:
			}
		})
	}
}

// checkRebalance verifies rb against the Partitioner's current answers:
// New is what BelongsTo says, Added/Removed are the differences of New and
// Old, and every item is assigned once in each.
func checkRebalance(t *testing.T, p *partitioner.Partitioner, items []string, rb partitioner.Rebalance) {
	t.Helper()
	owner := map[string]string{}
	for m, its := range rb.New {
		for _, it := range its {
			if prev, dup := owner[it]; dup {
				t.Fatalf("item %q assigned to %s and %s", it, prev, m)
			}
			owner[it] = m
		}
	}
	if len(owner) != len(items) {
		t.Fatalf("New assigns %d items, want %d", len(owner), len(items))
	}
	for _, it := range items {
		if !p.BelongsTo(it, owner[it]) {
			t.Fatalf("New gives %q to %s, BelongsTo disagrees", it, owner[it])
		}
	}
	old := map[string]string{}
	for m, its := range rb.Old {
		for _, it := range its {
			old[it] = m
		}
	}
	moved := 0
	for _, it := range items {
		if old[it] == owner[it] {
			continue
		}
		moved++
		if !slices.Contains(rb.Added[owner[it]], it) {
			t.Fatalf("%q moved from %q to %s, not in Added[%s]", it, old[it], owner[it], owner[it])
		}
		if old[it] != "" && !slices.Contains(rb.Removed[old[it]], it) {
			t.Fatalf("%q moved from %s to %s, not in Removed[%s]", it, old[it], owner[it], old[it])
		}
	}
	n := 0
	for _, its := range rb.Added {
		n += len(its)
	}
	if n != moved {
		t.Fatalf("Added lists %d items, %d moved", n, moved)
	}
}

// TestStop: Stop leaves the group the Partitioner joined, unregisters its
// hooks (no rebalance call after it) and keeps answering lookups.
func TestStop(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) { testStop(t, be.url(t), unique("group")) })
	}
}

func testStop(t *testing.T, url, group string) {
	a, b := open(t, url, "a"), open(t, url, "b")
	recA, recB := newRebalances(), newRebalances()
	pa := start(t, a, group, partitioner.WithRebalance(20*time.Millisecond, nil, recA.fn))
	pb := start(t, b, group, partitioner.WithRebalance(20*time.Millisecond, nil, recB.fn))
	recA.until(t, []string{"a", "b"})
	recB.until(t, []string{"a", "b"})

	if err := pa.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := pa.Stop(t.Context()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	members, err := b.Members(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(members, []string{"b"}) {
		t.Fatalf("members after a's Stop: %q, want [b]", members)
	}
	recB.until(t, []string{"b"})
	// A change a would have reported: b's partitioner sees it, a's stays quiet.
	c := open(t, url, "c")
	if err := c.JoinGroup(t.Context(), group, partitioner.Capabilities(1)); err != nil {
		t.Fatal(err)
	}
	recB.until(t, []string{"b", "c"})
	select {
	case rb := <-recA.ch:
		t.Fatalf("rebalance after Stop, members %q", rb.Members)
	default:
	}
	if got := pa.Members(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("stopped partitioner's members = %q, want the last known [a b]", got)
	}
	_ = pb
}

// TestAlreadyJoined: a member that joined the group itself keeps its
// membership and capabilities; Stop does not leave.
func TestAlreadyJoined(t *testing.T) {
	url, group := "memory://"+unique("joined"), unique("group")
	c := open(t, url, "self")
	if err := c.JoinGroupCreate(t.Context(), group, []byte(`{"weight":2,"zone":"a"}`)); err != nil {
		t.Fatal(err)
	}
	p := start(t, c, group, partitioner.WithWeight(5))
	if w, ok := p.Weight("self"); !ok || w != 2 {
		t.Fatalf("Weight(self) = %d, %v; want the advertised 2", w, ok)
	}
	if !p.BelongsToSelf("anything") {
		t.Fatal("the only member does not own a key")
	}
	if err := p.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	members, err := c.Members(t.Context(), group)
	if err != nil || !slices.Equal(members, []string{"self"}) {
		t.Fatalf("members after Stop = %q, %v; want [self]", members, err)
	}
}

// TestWithoutJoin: an observer follows the group without joining it.
func TestWithoutJoin(t *testing.T) {
	url, group := "memory://"+unique("observe"), unique("group")
	obs := open(t, url, "observer")
	rec := newRebalances()
	p := start(t, obs, group, partitioner.WithoutJoin(), partitioner.WithRebalance(20*time.Millisecond, nil, rec.fn))
	if got := p.Members(); len(got) != 0 {
		t.Fatalf("members of a group that does not exist yet: %q", got)
	}
	w := open(t, url, "worker")
	if err := w.JoinGroupCreate(t.Context(), group, partitioner.Capabilities(3)); err != nil {
		t.Fatal(err)
	}
	rec.until(t, []string{"worker"})
	if wt, _ := p.Weight("worker"); wt != 3 {
		t.Fatalf("Weight(worker) = %d, want 3", wt)
	}
	for _, k := range keys(100) {
		if p.BelongsToSelf(k) {
			t.Fatalf("observer owns %q", k)
		}
		if !p.BelongsTo(k, "worker") {
			t.Fatalf("worker does not own %q", k)
		}
	}
	if members, _ := obs.Members(t.Context(), group); slices.Contains(members, "observer") {
		t.Fatal("observer joined the group")
	}
}

// TestForeignCapabilities: members whose capabilities carry no usable
// weight count with weight 1, with a log line naming them.
func TestForeignCapabilities(t *testing.T) {
	url, group := "memory://"+unique("foreign"), unique("group")
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	caps := map[string][]byte{
		"not-json":  []byte("\x00\x01binary"),
		"no-weight": []byte(`{"zone":"a"}`),
		"bad":       []byte(`{"weight":2.5}`),
		"empty":     nil,
		"good":      []byte(`{"zone":"b","weight":4}`),
	}
	want := map[string]int{"not-json": 1, "no-weight": 1, "bad": 1, "empty": 1, "good": 4, "late": 1, "p": 1}
	// Some are members before the Partitioner starts (read from the
	// listing), one joins after (read on its join event).
	for id, cp := range caps {
		if err := open(t, url, id).JoinGroupCreate(t.Context(), group, cp); err != nil {
			t.Fatal(err)
		}
	}
	rec := newRebalances()
	p := start(t, open(t, url, "p"), group, partitioner.WithLogger(log), partitioner.WithRebalance(20*time.Millisecond, nil, rec.fn))
	if err := open(t, url, "late").JoinGroup(t.Context(), group, []byte("late, not JSON")); err != nil {
		t.Fatal(err)
	}
	rec.until(t, slices.Collect(maps.Keys(want)))
	for id, w := range want {
		if got, _ := p.Weight(id); got != w {
			t.Errorf("Weight(%s) = %d, want %d", id, got, w)
		}
	}
	out := logs.String()
	for _, id := range []string{"not-json", "no-weight", "bad", "empty", "late"} {
		if !strings.Contains(out, "member="+id) {
			t.Errorf("no log line for %s's capabilities in:\n%s", id, out)
		}
	}
	if strings.Contains(out, "member=good") {
		t.Errorf("log line for a member with a valid weight:\n%s", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestOptionsAndCapabilities(t *testing.T) {
	c := open(t, "memory://"+unique("opts"), "m")
	if _, err := partitioner.New(t.Context(), c, "g", partitioner.WithWeight(0)); !errors.Is(err, partitioner.ErrInvalidWeight) {
		t.Errorf("New with weight 0 = %v, want ErrInvalidWeight", err)
	}
	if _, err := partitioner.New(t.Context(), c, "g", partitioner.WithReplicas(0)); err == nil {
		t.Error("New with 0 replicas succeeded")
	}
	if _, err := partitioner.New(t.Context(), c, "", partitioner.WithoutJoin()); !errors.Is(err, tooz.ErrInvalidID) {
		t.Errorf("New with an empty group = %v, want ErrInvalidID", err)
	}
	closed := open(t, "memory://"+unique("opts"), "closed")
	if err := closed.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := partitioner.New(t.Context(), closed, "g"); !errors.Is(err, tooz.ErrClosed) {
		t.Errorf("New on a closed coordinator = %v, want ErrClosed", err)
	}
	for _, w := range []int{1, 7, partitioner.MaxWeight} {
		if got, err := partitioner.WeightOf(partitioner.Capabilities(w)); err != nil || got != w {
			t.Errorf("WeightOf(Capabilities(%d)) = %d, %v", w, got, err)
		}
	}
	for _, bad := range []string{``, `[]`, `{"weight":0}`, `{"weight":-1}`, `{"weight":"2"}`, `{"weight":null}`, `{"weight":1e9}`, `{}`} {
		if w, err := partitioner.WeightOf([]byte(bad)); !errors.Is(err, partitioner.ErrInvalidWeight) {
			t.Errorf("WeightOf(%s) = %d, %v; want ErrInvalidWeight", bad, w, err)
		}
	}
	if w, err := partitioner.WeightOf([]byte(`{"weight":3.0,"other":[1,2]}`)); err != nil || w != 3 {
		t.Errorf(`WeightOf({"weight":3.0,...}) = %d, %v`, w, err)
	}
}

// TestReplicas: with WithReplicas(2) each key belongs to two members, and
// rebalancing assigns each item to two.
func TestReplicas(t *testing.T) {
	url, group := "memory://"+unique("replicas"), unique("group")
	rec := newRebalances()
	items := keys(500)
	var ps []*partitioner.Partitioner
	for _, id := range []string{"r0", "r1", "r2"} {
		var opts []partitioner.Option
		opts = append(opts, partitioner.WithReplicas(2))
		if id == "r0" {
			opts = append(opts, partitioner.WithRebalance(20*time.Millisecond, func() []string { return items }, rec.fn))
		}
		ps = append(ps, start(t, open(t, url, id), group, opts...))
	}
	rb := rec.until(t, []string{"r0", "r1", "r2"})
	n := 0
	for _, its := range rb.New {
		n += len(its)
	}
	if n != 2*len(items) {
		t.Fatalf("New assigns %d item replicas, want %d", n, 2*len(items))
	}
	for _, k := range items {
		owners := ps[0].MembersFor(k, 2)
		claims := 0
		for _, p := range ps {
			if p.BelongsToSelf(k) {
				claims++
			}
		}
		if claims != 2 || len(owners) != 2 {
			t.Fatalf("key %q: %d claims, owners %q; want 2", k, claims, owners)
		}
		for _, o := range owners {
			if !slices.Contains(rb.New[o], k) {
				t.Fatalf("key %q: owner %s, not in New[%s]", k, o, o)
			}
		}
	}
}

// BenchmarkMembersFor looks keys up in a group of 1,000 members (goal:
// under 1 µs per lookup).
func BenchmarkMembersFor(b *testing.B) {
	ctx := context.Background()
	url, group := "memory://"+unique("bench"), unique("group")
	var cs []*tooz.Coordinator
	defer func() {
		for _, c := range cs {
			_ = c.Close(ctx)
		}
	}()
	for i := range 1000 {
		c, err := tooz.Open(ctx, url, fmt.Sprintf("member-%d", i), tooz.WithTimeout(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, c)
		if err := c.JoinGroupCreate(ctx, group, partitioner.Capabilities(1+i%3)); err != nil {
			b.Fatal(err)
		}
	}
	p, err := partitioner.New(ctx, cs[0], group)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Stop(ctx) }()
	if n := len(p.Members()); n != 1000 {
		b.Fatalf("partitioner sees %d members", n)
	}
	ks := keys(1 << 12)
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			defer cpuPerOp(b)()
			i := 0
			for b.Loop() {
				p.MembersFor(ks[i&(len(ks)-1)], n)
				i++
			}
		})
	}
	b.Run("BelongsToSelf", func(b *testing.B) {
		defer cpuPerOp(b)()
		i := 0
		for b.Loop() {
			p.BelongsToSelf(ks[i&(len(ks)-1)])
			i++
		}
	})
}
