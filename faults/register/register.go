// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package register is the fenced register of the fault tests: a tiny HTTP
// server, run by the test process, that stands for the storage a lock or a
// leadership protects. It accepts a write only when the writer's fencing
// token is at least the highest it has accepted for that resource, and
// records every write, accepted or rejected, in the test's history.
package register

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/toozgo/tooz/faults/history"
)

// Register is a fenced register with one slot per resource name.
type Register struct {
	h   *history.Writer
	srv *http.Server
	ln  net.Listener

	mu      sync.Mutex
	max     map[string]uint64
	maxRead map[string]uint64 // the highest token of an accepted read (shared.go)
	waiters []waiter
}

type waiter struct {
	res string
	ch  chan string
}

// Start serves a register on a free loopback port, recording writes in h.
func Start(h *history.Writer) (*Register, error) { return StartOn(h, "127.0.0.1:0") }

// StartOn serves a register on addr (host:port; port 0 picks a free one),
// e.g. a netlab gateway address that workload processes in network
// namespaces reach.
func StartOn(h *history.Writer, addr string) (*Register, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &Register{h: h, ln: ln, max: map[string]uint64{}, maxRead: map[string]uint64{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve)}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// URL is the address workload processes post their writes to.
func (r *Register) URL() string { return "http://" + r.ln.Addr().String() + "/write" }

// Close stops serving.
func (r *Register) Close() error { return r.srv.Close() }

// serve handles POST /write?p=PROC&res=RES&acq=N&tok=T: 200 when accepted,
// 409 when the token is lower than the highest accepted one.
func (r *Register) serve(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	tok, err1 := strconv.ParseUint(q.Get("tok"), 10, 64)
	acq, err2 := strconv.ParseInt(q.Get("acq"), 10, 64)
	proc, res := q.Get("p"), q.Get("res")
	if err1 != nil || err2 != nil || proc == "" || res == "" {
		http.Error(w, "bad write", http.StatusBadRequest)
		return
	}
	if q.Get("kind") == "read" {
		r.serveRead(w, proc, res, acq, tok) // shared.go
		return
	}
	accepted, max := r.write(proc, res, acq, tok)
	if !accepted {
		http.Error(w, fmt.Sprintf("stale token %d < %d", tok, max), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (r *Register) write(proc, res string, acq int64, tok uint64) (bool, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	max := r.max[res]
	accepted := tok >= max && tok >= r.maxRead[res] // readers came after a stale writer
	if accepted {
		r.max[res] = tok
	}
	// Recorded under the lock, so the history holds the register's order.
	r.h.Add(history.Rec{Proc: proc, Type: history.Write, F: history.FWrite, Res: res, Acq: acq, Token: tok, Accepted: accepted})
	{
		kept := r.waiters[:0]
		for _, wt := range r.waiters {
			if wt.res == res {
				wt.ch <- proc
				continue
			}
			kept = append(kept, wt)
		}
		r.waiters = kept
	}
	return accepted, max
}

// NextWriter returns a channel that receives the process of the next write
// to res, accepted or not: the current holder (or leader), for a nemesis to
// aim at. Rejected writes count too: after a backend lost its fencing
// counter, every current holder is rejected.
func (r *Register) NextWriter(res string) <-chan string {
	ch := make(chan string, 1)
	r.mu.Lock()
	r.waiters = append(r.waiters, waiter{res: res, ch: ch})
	r.mu.Unlock()
	return ch
}
