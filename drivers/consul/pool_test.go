// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestCyclesKeepTheClientPoolHealthy: lock cycles on an application's
// client must not make the client's other requests fail. Ending the watch
// of a released owner key by cancelling it as Consul's bodiless 404
// arrived made net/http close a pooled connection with that cancellation,
// and the next request on it — a lock's, or the application's own —
// failed with "context canceled" though its context was live.
func TestCyclesKeepTheClientPoolHealthy(t *testing.T) {
	s := testserver.StartConsul(t)
	client := rawClient(t, s)
	open := openOn(client)
	url := "consul://?namespace=" + testutil.Unique("pool")
	ctx := testutil.Context(t, 2*time.Minute)
	const workers, cycles = 4, 150
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	stop := make(chan struct{})
	for range workers {
		c, err := open(ctx, url, testutil.Unique("w"))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := c.Lock(testutil.Unique("lock"))
			for range cycles {
				if err := l.Acquire(ctx); err != nil {
					errs <- err
					return
				}
				if err := l.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// The application's own reads on the same client, all along.
	var reads int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := client.KV().Get(testutil.Unique("missing"), nil); err != nil {
				errs <- err
				return
			}
			reads++
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	close(errs)
	for err := range errs {
		t.Errorf("a request with a live context failed: %v", err)
	}
	if reads == 0 {
		t.Error("the application made no request during the cycles")
	}
}
