// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
)

// TestSilentMemberDoesNotStallForever: one member of three stops answering
// (frozen, as behind a dropping firewall) while the other two serve. Every
// client RPC that the round-robin balancer sends to it hangs, since its
// TCP connection stays up; gRPC's keepalive must close that connection
// (after 10s of silence, the shortest interval gRPC allows, plus the
// timeout) so that the RPC fails over instead of waiting until its context
// ends, however long that is.
func TestSilentMemberDoesNotStallForever(t *testing.T) {
	c := testserver.StartEtcdCluster(t, 3, testserver.WithNoFsync())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ttl := 2 * time.Second
	url := fmt.Sprintf("etcd://%s?namespace=silent-%d", c.Addrs(), time.Now().UnixNano())
	co, err := tooz.Open(ctx, url, "m", tooz.WithTimeout(ttl))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = co.Close(cctx)
	}()
	silent := c.Nodes[(leader+1)%3]
	silent.Pause()
	defer silent.Resume()
	// A bound well above gRPC's 10s keepalive + the TTL, far below the
	// operations' context.
	const bound = 16 * time.Second
	began := time.Now()
	var worst time.Duration
	for i := 0; time.Since(began) < 12*time.Second; i++ {
		start := time.Now()
		octx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		l := co.Lock(fmt.Sprintf("L%d", i))
		err := l.Acquire(octx)
		if err == nil {
			err = l.Release(octx)
		}
		cancel()
		d := time.Since(start)
		worst = max(worst, d)
		if d > bound {
			t.Fatalf("lock %d: acquire+release took %v (err %v) with %s silent: stuck on the silent member", i, d, err, silent.Name)
		}
	}
	t.Logf("worst acquire+release with %s silent: %v", silent.Name, worst)
}
