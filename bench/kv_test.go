// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// benchKVWatch times, from a prefix watch on a coordinator of its own,
// the put events of another coordinator writing keys under the prefix.
func benchKVWatch(t *testing.T, tg *target, tr tier, rtt time.Duration) {
	ctx := context.Background()
	ns, p := unique("ns"), unique("p")+"/"
	w := open(t, tg, ns, "watcher")
	m := open(t, tg, ns, "writer")
	put := make(chan time.Time, tr.events+1)
	kw, err := w.KV().Watch(ctx, p, func(e tooz.KeyEvent) {
		if e.Kind == tooz.KeyPut {
			put <- time.Now()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Stop()
	var call, after, total samples
	for i := range tr.events {
		t0 := time.Now()
		if _, err := m.KV().Put(ctx, p+strconv.Itoa(i%8), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		var at time.Time
		select {
		case at = <-put:
		case <-time.After(30 * time.Second):
			t.Fatal("no put event within 30s")
		}
		call, after, total = append(call, t1.Sub(t0)), append(after, at.Sub(t1)), append(total, at.Sub(t0))
	}
	if len(after) == 0 || call.p50() <= 0 {
		t.Fatal("no put event measured")
	}
	bar, verdict := "–", "–"
	if rtt > 0 {
		bar = "≤ " + ms(2*rtt) + " (2 RTT)"
		verdict = yes(after.p50() <= 2*rtt)
	}
	n := fmt.Sprintf(" (n=%d)", len(after))
	results.add(tg.name, row{metric: "KV put → prefix watcher's event, after the put returned: p50 / p99" + n,
		ours: ms(after.p50()) + " / " + ms(after.p99()), raw: "–", bar: bar, verdict: verdict})
	results.add(tg.name, row{metric: "KV put call: p50; put call → event, from the call's start: p50",
		ours: ms(call.p50()) + "; " + ms(total.p50())})
}
