// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/partitioner"
)

func count(a partitioner.Assignment) int {
	n := 0
	for _, its := range a {
		n += len(its)
	}
	return n
}

// TestWorkPrefix: the items come from a watched key prefix; adding and
// removing keys rebalances after the soak period with exactly those items
// added and removed, and a value-only change moves nothing.
func TestWorkPrefix(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := t.Context()
			url, group := be.url(t), unique("group")
			c := open(t, url, "leader")
			kv := c.KV()
			for i := range 10 {
				if _, err := kv.Put(ctx, fmt.Sprintf("work/dev-%d", i), []byte("cfg")); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := kv.Put(ctx, "other/x", nil); err != nil {
				t.Fatal(err)
			}
			rec := newRebalances()
			start(t, c, group, partitioner.WithWorkPrefix("work/"), partitioner.WithRebalance(100*time.Millisecond, nil, rec.fn))
			first := rec.next(t, "the initial items")
			if !first.Initial || count(first.New) != 10 || len(first.New["leader"]) != 10 || first.New["leader"][0] != "dev-0" {
				t.Fatalf("first rebalance: Initial %v, New %v", first.Initial, first.New)
			}
			if _, err := kv.Put(ctx, "work/dev-3", []byte("changed value")); err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Put(ctx, "work/dev-10", nil); err != nil {
				t.Fatal(err)
			}
			if err := kv.Delete(ctx, "work/dev-0"); err != nil {
				t.Fatal(err)
			}
			rb := rec.next(t, "the changed items")
			if !slices.Equal(rb.Added["leader"], []string{"dev-10"}) || !slices.Equal(rb.Removed["leader"], []string{"dev-0"}) || count(rb.New) != 10 {
				t.Fatalf("after adding dev-10 and removing dev-0: Added %v, Removed %v, New %d items", rb.Added, rb.Removed, count(rb.New))
			}
			if _, err := partitioner.New(ctx, c, group, partitioner.WithWorkPrefix("work/"), partitioner.WithRebalance(0, func() []string { return nil }, rec.fn)); err == nil {
				t.Fatal("New with both WithWorkPrefix and an items function did not fail")
			}
			if _, err := partitioner.New(ctx, c, group, partitioner.WithWorkPrefix("work/")); err == nil {
				t.Fatal("New with WithWorkPrefix and no WithRebalance did not fail")
			}
		})
	}
}

// TestItemsChanged: with an items function, ItemsChanged brings a
// rebalance for the new set.
func TestItemsChanged(t *testing.T) {
	url, group := "memory://"+unique("part"), unique("group")
	c := open(t, url, "leader")
	items := make(chan []string, 1)
	items <- []string{"a", "b"}
	cur := func() []string { s := <-items; items <- s; return s }
	rec := newRebalances()
	p := start(t, c, group, partitioner.WithRebalance(50*time.Millisecond, cur, rec.fn))
	rec.next(t, "the initial items")
	<-items
	items <- []string{"a", "c"}
	p.ItemsChanged()
	rb := rec.next(t, "the changed items")
	if !slices.Equal(rb.Added["leader"], []string{"c"}) || !slices.Equal(rb.Removed["leader"], []string{"b"}) {
		t.Fatalf("Added %v, Removed %v; want c added and b removed", rb.Added, rb.Removed)
	}
}

// TestAssignmentKeyLeaderFailover: the rebalancing leader stores its
// assignment; when it goes and another member takes over the rebalancing,
// the new one starts from the stored assignment and reports as moved only
// the items of the member that left, where a fresh start would report all.
func TestAssignmentKeyLeaderFailover(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := t.Context()
			url, group, key := be.url(t), unique("group"), unique("assignment")
			items := keys(100)
			itemsFn := func() []string { return items }
			workers := map[string]*tooz.Coordinator{}
			for _, id := range []string{"w1", "w2"} {
				workers[id] = open(t, url, id)
				if err := workers[id].JoinGroupCreate(ctx, group, partitioner.Capabilities(1)); err != nil {
					t.Fatal(err)
				}
			}
			leader := open(t, url, "leader")
			recA := newRebalances()
			pa := start(t, leader, group, partitioner.WithRebalance(100*time.Millisecond, itemsFn, recA.fn), partitioner.WithAssignmentKey(key))
			rbA := recA.until(t, []string{"leader", "w1", "w2"})
			if count(rbA.New) != 100 {
				t.Fatalf("the leader assigned %d items, want 100", count(rbA.New))
			}
			leaderItems := len(rbA.New["leader"])
			waitStored(t, workers["w2"], key, rbA.New) // stored once the function returned

			// The leader goes; w1 takes over the rebalancing.
			if err := pa.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			recB := newRebalances()
			start(t, workers["w1"], group, partitioner.WithoutJoin(), partitioner.WithRebalance(100*time.Millisecond, itemsFn, recB.fn), partitioner.WithAssignmentKey(key))
			rbB := recB.until(t, []string{"w1", "w2"})
			if rbB.Initial {
				t.Fatal("the new leader's first rebalance is Initial: the stored assignment was not used")
			}
			moved := count(rbB.Added)
			if moved != leaderItems || !slices.Equal(rbB.Removed["leader"], rbA.New["leader"]) || len(rbB.Removed) != 1 {
				t.Fatalf("after the leader left: %d items added (want the %d it owned), Removed %v", moved, leaderItems, rbB.Removed)
			}
			for _, w := range []string{"w1", "w2"} {
				for _, it := range rbA.New[w] {
					if !slices.Contains(rbB.New[w], it) {
						t.Fatalf("item %s moved off %s, which stayed", it, w)
					}
				}
			}
			waitStored(t, workers["w2"], key, rbB.New)
		})
	}
}

// waitStored waits until key holds assignment a, as stored once a
// rebalance function returned.
func waitStored(t *testing.T, c *tooz.Coordinator, key string, a partitioner.Assignment) {
	t.Helper()
	want, _ := json.Marshal(a)
	for end := time.Now().Add(deadline); ; {
		kv, err := c.KV().Get(t.Context(), key)
		if err == nil && string(kv.Value) == string(want) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("stored assignment %s (%v), want %s", kv.Value, err, want)
		}
		time.Sleep(10 * time.Millisecond) // polling an observable condition, with a deadline
	}
}
