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
	call, after, total := timeEvents(t, tr.events, "put", put, func(i int) error {
		_, err := m.KV().Put(ctx, p+strconv.Itoa(i%8), []byte(strconv.Itoa(i)))
		return err
	})
	bar, verdict := within2RTT(after.p50(), rtt)
	n := fmt.Sprintf(" (n=%d)", len(after))
	results.add(tg.name, row{metric: "KV put → prefix watcher's event, after the put returned: p50 / p99" + n,
		ours: ms(after.p50()) + " / " + ms(after.p99()), raw: "–", bar: bar, verdict: verdict})
	results.add(tg.name, row{metric: "KV put call: p50; put call → event, from the call's start: p50",
		ours: ms(call.p50()) + "; " + ms(total.p50())})
}
