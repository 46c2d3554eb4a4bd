// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner_test

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/toozgo/tooz/partitioner"
)

// TestSoakTiming runs the soak logic on synctest's fake clock, on real
// coordinators of the memory driver, so that "several changes within the
// soak period give one call, at the soak period after the last change" is
// checked exactly, however loaded the machine is.
func TestSoakTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const soak = 200 * time.Millisecond
		url, group := "memory://"+unique("synctest"), unique("group")
		type call struct {
			at time.Time
			rb partitioner.Rebalance
		}
		var (
			mu    sync.Mutex
			calls []call
		)
		got := func() []call {
			synctest.Wait() // every goroutine is idle: all due calls were made
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(calls)
		}
		fn := func(rb partitioner.Rebalance) {
			mu.Lock()
			calls = append(calls, call{time.Now(), rb})
			mu.Unlock()
		}
		t0 := time.Now()
		start(t, open(t, url, "leader"), group, partitioner.WithRebalance(soak, nil, fn))
		time.Sleep(soak - time.Millisecond)
		if n := len(got()); n != 0 {
			t.Fatalf("%d calls before the soak period passed", n)
		}
		time.Sleep(time.Millisecond)
		cs := got()
		if len(cs) != 1 || !cs[0].at.Equal(t0.Add(soak)) || !cs[0].rb.Initial {
			t.Fatalf("calls %+v, want one initial call at +%v", cs, soak)
		}

		// Two joins 150 ms apart: one call, soak after the second.
		w1, w2 := open(t, url, "w1"), open(t, url, "w2")
		if err := w1.JoinGroup(t.Context(), group, partitioner.Capabilities(1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
		t1 := time.Now()
		if err := w2.JoinGroup(t.Context(), group, partitioner.Capabilities(1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(soak - time.Millisecond)
		if n := len(got()); n != 1 {
			t.Fatalf("%d calls before the soak period after the last change passed, want 1", n)
		}
		time.Sleep(time.Millisecond)
		cs = got()
		if len(cs) != 2 || !cs[1].at.Equal(t1.Add(soak)) {
			t.Fatalf("%d calls, want 2, the second at +%v after the last join", len(cs), soak)
		}
		if want := []string{"leader", "w1", "w2"}; !slices.Equal(cs[1].rb.Members, want) {
			t.Fatalf("members %q, want %q", cs[1].rb.Members, want)
		}

		// A change undone within the soak period: no call.
		if err := w1.LeaveGroup(t.Context(), group); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if err := w1.JoinGroup(t.Context(), group, partitioner.Capabilities(1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * soak)
		if n := len(got()); n != 2 {
			t.Fatalf("%d calls after a leave and re-join within the soak period, want still 2", n)
		}

		// Marker: the next call is the marker's.
		t3 := time.Now()
		if err := open(t, url, "w3").JoinGroup(t.Context(), group, partitioner.Capabilities(1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(soak)
		cs = got()
		if len(cs) != 3 || !cs[2].at.Equal(t3.Add(soak)) {
			t.Fatalf("%d calls, want 3, the last at +%v after the marker", len(cs), soak)
		}
		if want := []string{"leader", "w1", "w2", "w3"}; !slices.Equal(cs[2].rb.Members, want) {
			t.Fatalf("members %q, want %q", cs[2].rb.Members, want)
		}
	})
}
