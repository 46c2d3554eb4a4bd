// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"net/url"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestRenewalsAreNotReported: a session's renewal changes whether no entry
// counts, so a watch reports nothing for it. A report reads every entry;
// with 1,000 members renewing, one per renewal kept the watchers of a join
// storm from ever catching up. A session that goes is still reported.
func TestRenewalsAreNotReported(t *testing.T) {
	k := testserver.StartKube(t)
	ctx := testutil.Context(t, time.Minute)
	u := "k8s://?kubeconfig=" + url.QueryEscape(k.Kubeconfig) + "&namespace=" + testutil.Unique("ns")
	const timeout = 2 * time.Second
	g := testutil.Unique("g")
	for i, m := range []string{"a", "c"} {
		c := testutil.Open(t, time.Minute, u, m, tooz.WithTimeout(timeout))
		if i == 0 {
			testutil.Must(t, c.CreateGroup(ctx, g), "create group")
		}
		testutil.Must(t, c.JoinGroup(ctx, g, nil), m+" joins")
	}
	d := testutil.Open(t, time.Minute, u, "w", tooz.WithTimeout(timeout)).Driver().(*conn)

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
