// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/toozgo/tooz/faults/history"
	"github.com/toozgo/tooz/internal/driverkit"
)

// The semaphore and read/write lock workloads, run beside lock, lead and
// members when -semaphore and -rwlock name them:
//
//   - permits: take one of -permits permits of the semaphore, hold it for a
//     critical section (recorded as a shared section: up to -permits
//     holders at once), give it back;
//   - rw: take the read/write lock, exclusively one time in three (fenced
//     writes, like the lock's) or shared (fenced reads: the register refuses
//     a read below the highest write token, and a write below the highest
//     read token).
//
// Both record their sections as shared ones (history.EnterShared), which
// the lock rules of the checker leave alone and its shared.go checks.

// sharedFlags are the workload's flags of these loops.
type sharedFlags struct {
	semaphore string
	permits   int
	rwlock    string
}

// startShared starts the permit and read/write loops that the flags ask for.
func (w *worker) startShared(ctx context.Context, wg *sync.WaitGroup) {
	if w.cfg.shared.semaphore != "" {
		wg.Add(1)
		go func() { defer wg.Done(); w.permitLoop(ctx) }()
	}
	if w.cfg.shared.rwlock != "" {
		wg.Add(1)
		go func() { defer wg.Done(); w.rwLoop(ctx) }()
	}
}

func (w *worker) permitLoop(ctx context.Context) {
	res, n := w.cfg.shared.semaphore, w.cfg.shared.permits
	for ctx.Err() == nil {
		s := w.c.Semaphore(res, n)
		w.sharedRound(ctx, history.FAcquirePermit, history.FReleasePermit, history.FPermit, res, fmt.Sprintf("permits=%d", n),
			s.Acquire, s.Release, s.FencingToken, s.Lost, s.Err)
	}
}

func (w *worker) rwLoop(ctx context.Context) {
	res := w.cfg.shared.rwlock
	for ctx.Err() == nil {
		l := w.c.RWLock(res)
		if rand.N(3) == 0 {
			w.sharedRound(ctx, history.FAcquireExcl, history.FReleaseRW, history.FWLock, res, "",
				l.Acquire, l.Release, l.FencingToken, l.Lost, l.Err)
		} else {
			w.sharedRound(ctx, history.FAcquireShared, history.FReleaseRW, history.FRLock, res, "",
				l.AcquireShared, l.Release, l.FencingToken, l.Lost, l.Err)
		}
	}
}

// sharedRound is one acquisition, section and release, recorded as the
// lock loop records its own.
func (w *worker) sharedRound(ctx context.Context, f, end, section, res, note string,
	acquire, release func(context.Context) error, token func() uint64, lost func() <-chan struct{}, errf func() error) {
	acq := w.acq.Add(1)
	w.h.Add(history.Rec{Type: history.Invoke, F: f, Res: res, Acq: acq})
	tctx, cancel := context.WithTimeout(ctx, 5*w.cfg.timeout)
	err := acquire(tctx)
	cancel()
	if err != nil {
		w.h.Add(history.Rec{Type: outcome(err), F: f, Res: res, Acq: acq, Err: err.Error()})
		driverkit.Sleep(ctx, 50*time.Millisecond) // back-off after an error
		return
	}
	tok := token()
	w.h.Add(history.Rec{Type: history.OK, F: f, Res: res, Acq: acq, Token: tok})
	done := make(chan struct{})
	go w.watchLost(section, res, acq, lost(), errf, done)
	wasLost := w.sharedSection(ctx, section, res, acq, tok, lost(), w.holdTime(), note)
	if !wasLost {
		w.h.Add(history.Rec{Type: history.Invoke, F: end, Res: res, Acq: acq})
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := release(rctx)
		cancel()
		w.h.Add(opDone(end, res, acq, err))
	}
	close(done)
	driverkit.Sleep(ctx, rand.N(100*time.Millisecond)) // let another contender in
}

// sharedSection is a section of the semaphore or the read/write lock,
// recorded as shared (the checker's shared.go knows who may be in at
// once): a permit (no register I/O), a shared holding (fenced reads at the
// writes' pace) or an exclusive one (fenced writes). Like section, a
// holder frozen between its check of Lost() and its next access makes that
// access anyway, for the register to refuse. It returns whether lost
// closed.
func (w *worker) sharedSection(ctx context.Context, f, res string, acq int64, tok uint64, lost <-chan struct{}, hold time.Duration, note string) bool {
	w.h.Add(history.Rec{Type: history.EnterShared, F: f, Res: res, Acq: acq, Token: tok, Note: note})
	access := func(unchecked string) {
		switch f {
		case history.FRLock:
			w.read(res, acq, tok, unchecked)
		case history.FWLock:
			w.write(res, acq, tok, unchecked)
		}
	}
	wasLost := false
	checked := time.Now()
	steps := max(1, int(hold/w.cfg.writeInterval))
	for i := 0; i < steps && ctx.Err() == nil && !wasLost; i++ {
		if frozen := time.Since(checked); frozen > w.cfg.timeout {
			access(fmt.Sprintf("unchecked: frozen %v between the check of Lost() and the access", frozen.Round(time.Millisecond)))
		}
		select {
		case <-lost:
			wasLost = true
			continue
		default:
		}
		checked = time.Now()
		access("")
		select {
		case <-lost:
			wasLost = true
		case <-ctx.Done():
		case <-time.After(w.cfg.writeInterval): // the pace of the accesses
		}
	}
	out := note
	if wasLost {
		out = strings.TrimSpace("lost " + note)
	}
	w.h.Add(history.Rec{Type: history.ExitShared, F: f, Res: res, Acq: acq, Token: tok, Note: out})
	return wasLost
}

// read shows a shared holder's token to the fenced register.
func (w *worker) read(res string, acq int64, tok uint64, note string) {
	w.fenced(history.FRead, url.Values{"kind": {"read"}}, res, acq, tok, note)
}
