// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// requestLog records the requests of a Consul API client and reports each
// blocking query as it starts.
type requestLog struct {
	next     http.RoundTripper
	blocking chan string // the path of each blocking query started

	mu   sync.Mutex
	reqs []string // "METHOD path?query"
}

func (l *requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.reqs = append(l.reqs, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
	l.mu.Unlock()
	if req.Method == http.MethodGet && req.URL.Query().Get("index") != "" {
		select {
		case l.blocking <- req.URL.Path:
		default:
		}
	}
	return l.next.RoundTrip(req)
}

// since returns the requests recorded from mark on, and a new mark.
func (l *requestLog) since(mark int) ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs[mark:]...), len(l.reqs)
}

// TestHeadTakesTheLockWithoutListing: the waiter at the head of a lock's
// queue, woken by the owner key's deletion, takes the key with its
// transaction at once. Between the holder's release and the waiter's
// acquisition there is no listing of the lock's keys: one round trip less
// per hand-over.
func TestHeadTakesTheLockWithoutListing(t *testing.T) {
	s := testserver.StartConsul(t)
	ctx := testutil.Context(t, time.Minute)
	ns := testutil.Unique("handover")
	h := harness{conformance.URLHarness{URL: "consul://" + s.Addr + "?namespace=" + ns, LivenessTimeout: testTimeout}}
	a := open(t, h, "a")

	log := &requestLog{next: http.DefaultTransport.(*http.Transport).Clone(), blocking: make(chan string, 64)}
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.HttpClient = &http.Client{Transport: log}
	client, err := api.NewClient(cfg)
	testutil.Must(t, err, "recording client")
	b, err := Open(ctx, client, "consul://?namespace="+ns, "b")
	testutil.Must(t, err, "open b")
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Close(cctx)
	})

	name := testutil.Unique("lock")
	la := a.Lock(name)
	testutil.Must(t, la.Acquire(ctx), "a acquires")
	base := b.Driver().(*conn).resBase(tooz.Resource{Kind: tooz.KindLock, Name: name})
	lb := b.Lock(name)
	got := make(chan error, 1)
	go func() { got <- lb.Acquire(ctx) }()
	// b queues, lists, and waits on the owner key.
	for waiting := false; !waiting; {
		select {
		case p := <-log.blocking:
			waiting = p == "/v1/kv/"+base+ownerName
		case err := <-got:
			t.Fatalf("b's Acquire returned while a holds the lock: %v", err)
		case <-ctx.Done():
			t.Fatal("b never waited on the owner key")
		}
	}
	_, mark := log.since(0)
	testutil.Must(t, la.Release(ctx), "a releases")
	select {
	case err := <-got:
		testutil.Must(t, err, "b's Acquire")
	case <-ctx.Done():
		t.Fatal("b did not get the lock after a's release")
	}
	reqs, _ := log.since(mark)
	var took bool
	for _, r := range reqs {
		if strings.HasPrefix(r, "GET /v1/kv/"+base) && strings.Contains(r, "recurse") {
			t.Errorf("b listed the lock's keys between the release and its acquisition: %s\nall: %q", r, reqs)
		}
		took = took || strings.HasPrefix(r, "PUT /v1/txn")
	}
	if !took {
		t.Fatalf("no transaction of b's recorded after the release: %q", reqs)
	}
	if id, err := b.Lock(name).Owner(ctx); id != "b" || err != nil {
		t.Fatalf("owner after the hand-over = %q, %v; want b", id, err)
	}
	testutil.Must(t, lb.Release(ctx), "b releases")
}
