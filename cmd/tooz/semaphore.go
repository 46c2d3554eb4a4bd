// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/toozgo/tooz"
)

var semaphoreCommand = &command{
	name:    "semaphore",
	args:    "NAME N -- CMD [ARGS...]",
	summary: "run CMD while holding one of the N permits of semaphore NAME",
	details: `
At most N processes run under semaphore NAME at any instant, on any host
(like 'consul lock -n N'). Waits until a permit is free (or --wait passes, or
at once with --no-wait); permits go to waiters first come, first served. CMD
runs with TOOZ_FENCING_TOKEN (unique to this permit, ordered like the queue),
TOOZ_SEMAPHORE and TOOZ_PERMITS in its environment, and the permit is given
back when CMD exits. tooz exits with CMD's status.

Every holder of NAME must give the same N: a different one is refused
(status 1) while others hold or wait. A permit is lost like a lock (status
5: CMD gets SIGTERM, then SIGKILL after --grace). Semaphores have names of
their own, apart from locks.`,
	example: `
# at most 4 backups at once across the fleet
tooz --url etcd://10.0.0.1:2379 semaphore backups 4 -- ./backup.sh

# skip this run if all 4 permits are taken (status 4)
tooz semaphore backups 4 --no-wait -- ./backup.sh`,
	run: runSemaphore,
}

// permitHandle is what the lock --shared/--exclusive and semaphore
// commands hold: a tooz.Semaphore or a tooz.RWLock in one mode.
type permitHandle struct {
	what     string // "semaphore \"x\"", "lock \"x\" (shared)"
	try      func(context.Context) (bool, error)
	acquire  func(context.Context) error
	release  func(context.Context) error
	lost     func() <-chan struct{}
	token    func() uint64
	holders  func(context.Context) ([]string, error)
	busyWord string // "has no free permit", "is held"
}

func runSemaphore(a *app, me *command, args []string) error {
	pos, argv, err := a.parseCommand(me, args)
	if err != nil {
		return err
	}
	const c = "semaphore"
	switch {
	case len(pos) < 2 && argv == nil && len(pos) > 0:
		return usageError(c, "tooz semaphore: missing the number of permits: tooz semaphore %s N -- CMD", pos[0])
	case len(pos) == 0:
		return usageError(c, "tooz semaphore: missing the semaphore NAME and N")
	case len(pos) == 1:
		return usageError(c, "tooz semaphore: missing the number of permits: tooz semaphore %s N -- CMD", pos[0])
	case len(pos) > 2 && argv == nil:
		return usageError(c, "tooz semaphore: put \"--\" between N and the command: tooz semaphore %s %s -- %s", pos[0], pos[1], pos[2])
	case len(pos) > 2:
		return usageError(c, "tooz semaphore: NAME and N expected, got %d arguments: %q", len(pos), pos)
	case len(argv) == 0:
		return usageError(c, "tooz semaphore: missing the command: tooz semaphore %s %s -- CMD [ARGS...]", pos[0], pos[1])
	}
	name := pos[0]
	n, err := strconv.Atoi(pos[1])
	if err != nil || n < 1 || n > tooz.MaxPermits {
		return usageError(c, "tooz semaphore: bad number of permits %q: want a whole number from 1 to %d", pos[1], tooz.MaxPermits)
	}
	if err := tooz.ValidateID(name); err != nil {
		return usageError(c, "tooz semaphore: bad semaphore name: %v", err)
	}
	if a.noWait && a.wait > 0 {
		return usageError(c, "tooz semaphore: --no-wait and --wait exclude each other")
	}
	if err := a.checkExitCodes(c); err != nil {
		return err
	}
	path, err := lookCommand(argv)
	if err != nil {
		return err
	}
	co, err := a.open()
	if err != nil {
		return err
	}
	defer a.close(co)
	s := co.Semaphore(name, n)
	h := &permitHandle{
		what: fmt.Sprintf("semaphore %q", name), try: s.TryAcquire, acquire: s.Acquire, release: s.Release,
		lost: s.Lost, token: s.FencingToken, holders: s.Holders, busyWord: fmt.Sprintf("has no free permit of %d", n),
	}
	env := []string{"TOOZ_SEMAPHORE=" + name, "TOOZ_PERMITS=" + strconv.Itoa(n)}
	return a.runHolding(h, map[string]any{"semaphore": name, "permits": n}, path, argv, env)
}

// runRWLock is tooz lock NAME --shared / --exclusive: the read/write lock NAME.
func runRWLock(a *app, name, path string, argv []string) error {
	if a.shared && a.exclusive {
		return usageError("lock", "tooz lock: --shared and --exclusive exclude each other")
	}
	if a.lockTTL > 0 {
		return usageError("lock", "tooz lock: --ttl applies to plain locks; a read/write lock lasts as long as the member's liveness")
	}
	co, err := a.open()
	if err != nil {
		return err
	}
	defer a.close(co)
	l := co.RWLock(name)
	mode := "shared"
	h := &permitHandle{try: l.TryAcquireShared, acquire: l.AcquireShared, busyWord: "is held exclusively or an exclusive holder waits"}
	if a.exclusive {
		mode = "exclusive"
		h.try, h.acquire, h.busyWord = l.TryAcquire, l.Acquire, "is held"
	}
	h.what = fmt.Sprintf("lock %q (%s)", name, mode)
	h.release, h.lost, h.token, h.holders = l.Release, l.Lost, l.FencingToken, l.Holders
	env := []string{"TOOZ_LOCK=" + name, "TOOZ_LOCK_MODE=" + mode}
	return a.runHolding(h, map[string]any{"lock": name, "mode": mode}, path, argv, env)
}

// runHolding acquires h, runs the command while it holds, and gives it
// back: the lock command's flow, for semaphores and read/write locks.
func (a *app) runHolding(h *permitHandle, fields map[string]any, path string, argv, env []string) error {
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range fields {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	if err := a.acquireHolding(h, with); err != nil {
		return err
	}
	token := h.token()
	a.info("acquired", with(map[string]any{"fencing_token": token}), fmt.Sprintf("%s acquired (fencing token %d)", h.what, token))
	env = append([]string{"TOOZ_FENCING_TOKEN=" + strconv.FormatUint(token, 10)}, env...)
	out, err := a.runChild(path, argv, env, h.lost(), func() {
		a.warn("lost", with(map[string]any{"grace": a.grace.String()}),
			fmt.Sprintf("%s lost while the command ran; stopping it (SIGTERM, then SIGKILL after %v)", h.what, a.grace))
	})
	if err != nil {
		a.releaseHolding(h, with)
		return err
	}
	if out.lost {
		return exitf(exitLost, "tooz: %s was lost while the command ran (another process may hold it now); %s", h.what, a.stopDescription(out))
	}
	if err := a.releaseHolding(h, with); errors.Is(err, tooz.ErrLockNotHeld) {
		return exitf(exitLost, "tooz: %s was lost by the time the command ended (the command %s); its work may have overlapped another holder's", h.what, out.how)
	}
	a.info("released", with(map[string]any{"exit_code": out.status}), fmt.Sprintf("%s released; the command %s", h.what, out.how))
	return childExit(out)
}

// acquireHolding takes h: at once, or after waiting as the options say.
func (a *app) acquireHolding(h *permitHandle, with func(map[string]any) map[string]any) error {
	ctx, cancel := a.request()
	ok, err := h.try(ctx)
	cancel()
	if err != nil {
		return a.requestError(err)
	}
	if ok {
		return nil
	}
	holders := a.describeHolders(h)
	if a.noWait {
		return exitf(exitNotAcquired, "tooz: %s %s (holders: %s); not acquired (--no-wait)", h.what, h.busyWord, holders)
	}
	a.notice(a.verbose || stderrIsTerminal(), "waiting", with(map[string]any{"holders": holders}),
		fmt.Sprintf("waiting for %s, held by %s", h.what, holders))
	wctx, cancel := a.ctx, context.CancelFunc(func() {})
	if a.wait > 0 {
		wctx, cancel = context.WithTimeout(a.ctx, a.wait)
	}
	defer cancel()
	err = h.acquire(wctx)
	switch {
	case err == nil:
		return nil
	case a.signals.received() != nil:
		return interrupted(a.signals.received(), "while waiting for "+h.what)
	case errors.Is(err, tooz.ErrNotAcquired):
		return exitf(exitNotAcquired, "tooz: %s not acquired within --wait %v (holders: %s)", h.what, a.wait, a.describeHolders(h))
	}
	return err
}

// describeHolders names the holders of h, for messages.
func (a *app) describeHolders(h *permitHandle) string {
	ctx, cancel := context.WithTimeout(a.ctx, min(a.requestTimeout, 2*time.Second))
	defer cancel()
	ids, err := h.holders(ctx)
	if err != nil || len(ids) == 0 {
		return "other processes"
	}
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = strconv.Quote(id)
	}
	return strings.Join(q, ", ")
}

// releaseHolding gives h up on a context of its own, warning when that fails.
func (a *app) releaseHolding(h *permitHandle, with func(map[string]any) map[string]any) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := h.release(ctx)
	if err != nil && !errors.Is(err, tooz.ErrLockNotHeld) {
		a.warn("release_failed", with(map[string]any{"error": err.Error()}),
			fmt.Sprintf("releasing %s: %v (it is freed when this member's liveness expires)", h.what, err))
	}
	return err
}
