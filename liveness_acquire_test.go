package tooz_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

// TestAcquireCompletingAfterLivenessLostIsNotHeld: a member waits for a
// lock and its liveness deadline passes meanwhile (no successful
// heartbeat; here the backend still keeps its session, as an etcd lease
// does when only the client's path to the cluster is broken). When the
// wait ends in success after that, the lock was won by a session the
// member can no longer vouch for: Acquire must not report it held with an
// open Lost(), or the member acts as holder while the backend may expire
// it any moment (found by faults/TestFullCluster on a 3-node etcd when the
// leader was cut off: a holder wrote for 2.5s under a lease that expired).
// The same holds for Campaign.
func TestAcquireCompletingAfterLivenessLostIsNotHeld(t *testing.T) {
	for _, kind := range []string{"lock", "campaign"} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			url := fmt.Sprintf("memory://liveness-%s-%d", kind, time.Now().UnixNano())
			const timeout = time.Second
			a, err := tooz.Open(ctx, url, "a", tooz.WithTimeout(timeout), tooz.WithoutHeart())
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close(context.Background())
			b, err := tooz.Open(ctx, url, "b", tooz.WithTimeout(timeout))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(context.Background())

			// b holds; a waits behind it.
			release := func() error { return nil }
			switch kind {
			case "lock":
				lb := b.Lock("L")
				if err := lb.Acquire(ctx); err != nil {
					t.Fatal(err)
				}
				release = func() error { return lb.Release(ctx) }
			case "campaign":
				lead, err := b.Campaign(ctx, "E")
				if err != nil {
					t.Fatal(err)
				}
				release = func() error { return lead.Resign(ctx) }
			}
			// A lock a holds shows when a's liveness epoch ends.
			probe := a.Lock("probe")
			if err := probe.Acquire(ctx); err != nil {
				t.Fatal(err)
			}
			type result struct {
				lost <-chan struct{}
				err  error
			}
			done := make(chan result, 1)
			go func() {
				switch kind {
				case "lock":
					l := a.Lock("L")
					err := l.Acquire(ctx)
					done <- result{l.Lost(), err}
				case "campaign":
					lead, err := a.Campaign(ctx, "E")
					if err != nil {
						done <- result{nil, err}
						return
					}
					done <- result{lead.Lost(), nil}
				}
			}()
			// Keep a's session alive on the backend only (the driver's
			// heartbeat, not the Coordinator's), until its own deadline
			// has passed.
			tick := time.NewTicker(timeout / 5)
			defer tick.Stop()
		wait:
			for {
				if _, err := a.Driver().Heartbeat(ctx); err != nil {
					t.Fatalf("driver heartbeat: %v", err)
				}
				select {
				case <-probe.Lost():
					break wait
				case <-tick.C:
				case <-ctx.Done():
					t.Fatal("a's liveness never ended")
				}
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
			var r result
			for r.lost == nil && r.err == nil {
				if _, err := a.Driver().Heartbeat(ctx); err != nil {
					t.Fatalf("driver heartbeat: %v", err)
				}
				select {
				case r = <-done:
				case <-tick.C:
				case <-ctx.Done():
					t.Fatal("a's wait never ended")
				}
			}
			if r.err != nil {
				if !errors.Is(r.err, tooz.ErrSessionLost) {
					t.Fatalf("want an error wrapping ErrSessionLost, got %v", r.err)
				}
				return
			}
			select {
			case <-r.lost:
			default:
				t.Fatal("acquired after the liveness deadline passed, and Lost() is open: a holds with no liveness")
			}
		})
	}
}
