// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// rawEtcdFailover times etcd's own concurrency.Election the way
// benchFailover times ours: three contenders, each on a client and session
// of its own (TTL: the liveness timeout in whole seconds, as our driver's
// lease); the leader's client is closed without revoking its lease (a
// crash), and the time until another contender's Campaign returns is one
// sample.
func rawEtcdFailover(t *testing.T, addr string, rounds int, timeout time.Duration) samples {
	ttl := int((timeout + time.Second - 1) / time.Second)
	var out samples
	for range rounds {
		prefix := "/raw-election/" + unique("e")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		type won struct {
			i  int
			at time.Time
		}
		ch := make(chan won, 3)
		clis := make([]*clientv3.Client, 3)
		for i := range clis {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				t.Fatal(err)
			}
			clis[i] = cli
			sess, err := concurrency.NewSession(cli, concurrency.WithTTL(ttl))
			if err != nil {
				t.Fatal(err)
			}
			e := concurrency.NewElection(sess, prefix)
			go func() {
				if err := e.Campaign(ctx, fmt.Sprint(i)); err != nil {
					ch <- won{i: -1}
					return
				}
				ch <- won{i, time.Now()}
			}()
		}
		next := func() won {
			select {
			case w := <-ch:
				if w.i < 0 {
					t.Fatal("raw campaign failed")
				}
				return w
			case <-ctx.Done():
				t.Fatal("no raw leader within a minute")
			}
			return won{}
		}
		first := next()
		t0 := time.Now()
		_ = clis[first.i].Close() // keep-alives stop; the lease is left to expire
		second := next()
		out = append(out, second.at.Sub(t0))
		cancel()
		for i, cli := range clis {
			if i != first.i {
				_ = cli.Close()
			}
		}
	}
	return out
}
