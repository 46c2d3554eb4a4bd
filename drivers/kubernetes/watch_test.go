// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	coordv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// joined starts an API server, has members join a new group (each with
// a coordinator and a session of its own, timeout 2s) and opens one more
// coordinator, "w", that has not joined: its driver, and the group.
func joined(t *testing.T, members ...string) (*conn, string) {
	t.Helper()
	k := testserver.StartKube(t)
	ctx := testutil.Context(t, time.Minute)
	u := "k8s://?kubeconfig=" + url.QueryEscape(k.Kubeconfig) + "&namespace=" + testutil.Unique("ns")
	const timeout = 2 * time.Second
	g := testutil.Unique("g")
	for i, m := range members {
		c := testutil.Open(t, time.Minute, u, m, tooz.WithTimeout(timeout))
		if i == 0 {
			testutil.Must(t, c.CreateGroup(ctx, g), "create group")
		}
		testutil.Must(t, c.JoinGroup(ctx, g, nil), m+" joins")
	}
	return testutil.Open(t, time.Minute, u, "w", tooz.WithTimeout(timeout)).Driver().(*conn), g
}

// TestRenewalsAreNotReported: a session's renewal changes whether no entry
// counts, so a watch reports nothing for it. A report reads every entry;
// with 1,000 members renewing, one per renewal kept the watchers of a join
// storm from ever catching up. A session that goes is still reported.
func TestRenewalsAreNotReported(t *testing.T) {
	d, g := joined(t, "a", "c")
	ctx := testutil.Context(t, time.Minute)

	reports := make(chan []*corev1.ConfigMap, 1000)
	w := &cmWatch{c: d, sel: d.memberSelector(g)}
	w.report = func(ctx context.Context, reset bool) {
		reports <- w.visible(ctx, func(*corev1.ConfigMap) bool { return true })
	}
	next := func(what string) []*corev1.ConfigMap {
		t.Helper()
		select {
		case vis := <-reports:
			return vis
		case <-ctx.Done():
			t.Fatalf("no report %s", what)
			return nil
		}
	}
	lw, err := d.leases.Watch(ctx, metav1.ListOptions{LabelSelector: d.sessionSelector()})
	if err != nil {
		t.Fatal(err)
	}
	defer lw.Stop()
	stop, err := w.start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	vis := next("of the listing")
	if len(vis) != 2 {
		t.Fatalf("the listing shows %d members, want a and c", len(vis))
	}
	var cSession string
	for _, m := range vis {
		if m.Annotations[annName] == "c" {
			cSession = m.Labels[labelSession]
		}
	}

	const renewals = 6
	for seen := 0; seen < renewals; {
		select {
		case ev := <-lw.ResultChan():
			if ev.Type == watch.Modified {
				seen++
			}
		case <-ctx.Done():
			t.Fatalf("saw %d session renewals, want %d", seen, renewals)
		}
	}
	// c's session deleted: an event of the same stream as the renewals,
	// after them, so that its report comes once they were all applied.
	testutil.Must(t, d.leases.Delete(ctx, cSession, metav1.DeleteOptions{}), "delete c's session")
	for n := 1; ; n++ {
		if vis := next("of c's session deleted"); len(vis) == 1 {
			if n > renewals/2 {
				t.Fatalf("%d reports for %d renewals and a deleted session, want at most %d: a renewal is not reported", n, renewals, renewals/2)
			}
			t.Logf("%d report(s) for %d renewals and a deleted session", n, renewals)
			return
		}
	}
}

// countingLeases counts the session reads (Get, List) made through it.
type countingLeases struct {
	coordv1client.LeaseInterface
	gets, lists atomic.Int32
}

func (c *countingLeases) Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordv1.Lease, error) {
	c.gets.Add(1)
	return c.LeaseInterface.Get(ctx, name, opts)
}

func (c *countingLeases) List(ctx context.Context, opts metav1.ListOptions) (*coordv1.LeaseList, error) {
	c.lists.Add(1)
	return c.LeaseInterface.List(ctx, opts)
}

// TestStaleSessionsReadInOneListing: when the watch's view of several
// sessions behind entries is stale (its session watch lags behind the
// renewals on a busy API server), a report reads them all with one
// listing, not one read each: in a 1,000-member join storm, 10 watchers
// made 18,000 to 23,000 such reads and took 40 s longer than the joins to
// see them all. A session event older than what the listing found is then
// ignored.
func TestStaleSessionsReadInOneListing(t *testing.T) {
	names := []string{"m0", "m1", "m2", "m3"}
	members := len(names)
	d, g := joined(t, names...)
	ctx := testutil.Context(t, time.Minute)
	leases := &countingLeases{LeaseInterface: d.leases}
	probe := newConn(tooz.Config{Logger: d.log, MemberID: "probe", Timeout: d.timeout}, d.kns, leases, d.cms)
	defer probe.cancel()
	probe.nsHash = d.nsHash
	w := &cmWatch{c: probe, sel: probe.memberSelector(g)}
	testutil.Must(t, w.list(ctx), "list")
	leases.lists.Store(0) // the watch's own listing
	for name, l := range w.sessions {
		stale := l.DeepCopy() // as a lagging watch has it: renewed long ago
		stale.ResourceVersion = "1"
		stale.Spec.RenewTime = &metav1.MicroTime{Time: time.Now().Add(-time.Hour)}
		w.sessions[name] = stale
	}

	if vis := w.visible(ctx, func(*corev1.ConfigMap) bool { return false }); len(vis) != members {
		t.Fatalf("%d members count, want %d", len(vis), members)
	}
	if gets, lists := leases.gets.Load(), leases.lists.Load(); gets != 0 || lists != 1 {
		t.Fatalf("%d stale sessions were read with %d reads and %d listings, want one listing", members, gets, lists)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for name, l := range w.sessions {
		if l.ResourceVersion == "1" {
			t.Fatalf("session %s kept its stale view after the listing", name)
		}
		stale := l.DeepCopy()
		stale.ResourceVersion = "1"
		if w.session(watch.Modified, stale, timer) || w.sessions[name] != l {
			t.Fatalf("an event of session %s older than the listing replaced it", name)
		}
	}
	if len(w.sessions) < members {
		t.Fatalf("the listing found %d sessions, want at least %d", len(w.sessions), members)
	}
}
