// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestContention has 8 handles on 4 coordinators take one lock in turns,
// some of them giving up while queued (so that waiters see their
// predecessor vanish from the middle of the queue): at most one holds the
// lock at any time, and every new holder's fencing token is greater than
// the previous holder's.
func TestContention(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	url := testURL(s)
	name := testutil.Unique("lock")
	const coordinators, handles, rounds = 4, 2, 15
	var (
		holders   atomic.Int32
		mu        sync.Mutex
		lastToken uint64
		acquired  int
		gaveUp    int
		wg        sync.WaitGroup
	)
	errs := make(chan error, coordinators*handles)
	for i := range coordinators {
		c := open(t, url, fmt.Sprintf("m%d", i))
		for j := range handles {
			l := c.Lock(name)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					actx, cancel := context.WithTimeout(ctx, 30*time.Second)
					if (i+j+r)%4 == 0 {
						// Give up while queued, or even before etcd answers.
						cancel()
						actx, cancel = context.WithTimeout(ctx, time.Duration(1+r%3*2)*time.Millisecond)
					}
					err := l.Acquire(actx)
					cancel()
					if errors.Is(err, tooz.ErrNotAcquired) {
						mu.Lock()
						gaveUp++
						mu.Unlock()
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					if n := holders.Add(1); n != 1 {
						errs <- fmt.Errorf("%d holders at once", n)
					}
					mu.Lock()
					if tok := l.FencingToken(); tok <= lastToken {
						errs <- fmt.Errorf("fencing token %d after %d", tok, lastToken)
					} else {
						lastToken = tok
					}
					acquired++
					mu.Unlock()
					holders.Add(-1)
					if err := l.Release(ctx); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d acquisitions, %d gave up", acquired, gaveUp)
	if acquired < coordinators*handles*rounds/2 {
		t.Fatalf("only %d acquisitions", acquired)
	}
	// Nothing is left in the queue.
	if owner, err := open(t, url, "probe").Driver().Owner(ctx, tooz.Resource{Kind: tooz.KindLock, Name: name}); !errors.Is(err, tooz.ErrNoLeader) {
		t.Fatalf("owner after everyone released: %q, %v", owner, err)
	}
}
