// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/toozgo/tooz"
)

var lockCommand = &command{
	name:    "lock",
	args:    "NAME -- CMD [ARGS...]",
	summary: "run CMD while holding lock NAME",
	details: `
Waits until lock NAME is free (or --wait passes, or at once with --no-wait),
then runs CMD with TOOZ_FENCING_TOKEN (strictly greater than every earlier
holder's) and TOOZ_LOCK in its environment, and releases the lock when CMD
exits. tooz exits with CMD's status.

If the lock is lost while CMD runs, CMD's process group gets SIGTERM, then
SIGKILL after --grace, and tooz exits with status 5. SIGINT, SIGTERM and
SIGHUP sent to tooz are forwarded to CMD (SIGKILL follows after --grace);
the lock is released once CMD has ended.

With --shared (or --exclusive) it holds the read/write lock NAME instead:
any number of --shared holders at once, or one --exclusive holder. Waiters
queue first come, first served, so a waiting --exclusive holder is not
starved by a stream of --shared ones. CMD gets TOOZ_LOCK_MODE too. The
read/write lock NAME and the plain lock NAME are two different locks.`,
	example: `
# run the nightly report on one machine at a time; others wait their turn
tooz --url etcd://10.0.0.1:2379 lock nightly-report -- ./report.sh

# skip this run if another one is still going (status 4)
tooz lock backup --no-wait -- sh -c 'backup --fencing-token "$TOOZ_FENCING_TOKEN"'

# many readers of the schema at once; the migration runs alone
tooz lock schema --shared -- ./read-report.sh
tooz lock schema --exclusive -- ./migrate.sh`,
	run: runLock,
}

func runLock(a *app, me *command, args []string) error {
	name, argv, err := a.nameAndCommand(me, args, "lock name", "lock NAME")
	if err != nil {
		return err
	}
	if a.noWait && a.wait > 0 {
		return usageError("lock", "tooz lock: --no-wait and --wait exclude each other")
	}
	if err := a.checkExitCodes("lock"); err != nil {
		return err
	}
	if err := tooz.ValidateID(name); err != nil {
		return usageError("lock", "tooz lock: bad lock name: %v", err)
	}
	path, err := lookCommand(argv)
	if err != nil {
		return err
	}
	if a.shared || a.exclusive {
		return runRWLock(a, name, path, argv) // see semaphore.go
	}
	c, err := a.open()
	if err != nil {
		return err
	}
	defer a.close(c)

	var opts []tooz.LockOption
	if a.lockTTL > 0 {
		opts = append(opts, tooz.WithLockTTL(a.lockTTL))
	}
	l := c.Lock(name, opts...)
	if err := a.acquire(c, l); err != nil {
		return err
	}
	token := l.FencingToken()
	a.info("acquired", map[string]any{"lock": name, "member": c.MemberID(), "fencing_token": token},
		fmt.Sprintf("lock %q acquired (fencing token %d)", name, token))

	env := []string{"TOOZ_FENCING_TOKEN=" + strconv.FormatUint(token, 10), "TOOZ_LOCK=" + name}
	out, err := a.runChild(path, argv, env, l.Lost(), func() {
		a.warn("lost", map[string]any{"lock": name, "grace": a.grace.String()},
			fmt.Sprintf("lock %q lost while the command ran; stopping it (SIGTERM, then SIGKILL after %v)", name, a.grace))
	})
	if err != nil {
		a.release(l)
		return err
	}
	if out.lost {
		return exitf(exitLost, "tooz: lock %q was lost while the command ran (another process may hold it now); %s",
			name, a.stopDescription(out))
	}
	if err := a.release(l); errors.Is(err, tooz.ErrLockNotHeld) {
		return exitf(exitLost, "tooz: lock %q was lost by the time the command ended (the command %s); its work may have overlapped another holder's",
			name, out.how)
	}
	a.info("released", map[string]any{"lock": name, "exit_code": out.status},
		fmt.Sprintf("lock %q released; the command %s", name, out.how))
	return childExit(out)
}

// acquire takes l: at once, or after waiting as the options say.
func (a *app) acquire(c *tooz.Coordinator, l *tooz.Lock) error {
	ctx, cancel := a.request()
	ok, err := l.TryAcquire(ctx)
	cancel()
	if err != nil {
		return a.requestError(err)
	}
	if ok {
		return nil
	}
	holder := a.lockHolder(c, l.Name())
	if a.noWait {
		return exitf(exitNotAcquired, "tooz: lock %q is held by %s; not acquired (--no-wait)", l.Name(), holder)
	}
	a.notice(a.verbose || stderrIsTerminal(), "waiting", map[string]any{"lock": l.Name(), "holder": holder},
		fmt.Sprintf("waiting for lock %q, held by %s", l.Name(), holder))
	wctx, cancel := a.ctx, context.CancelFunc(func() {})
	if a.wait > 0 {
		wctx, cancel = context.WithTimeout(a.ctx, a.wait)
	}
	defer cancel()
	err = l.Acquire(wctx)
	switch {
	case err == nil:
		return nil
	case a.signals.received() != nil:
		return interrupted(a.signals.received(), fmt.Sprintf("while waiting for lock %q", l.Name()))
	case errors.Is(err, tooz.ErrNotAcquired):
		return exitf(exitNotAcquired, "tooz: lock %q not acquired within --wait %v (held by %s)", l.Name(), a.wait, a.lockHolder(c, l.Name()))
	}
	return err
}

// lockHolder names the member holding lock name, for messages.
func (a *app) lockHolder(c *tooz.Coordinator, name string) string {
	ctx, cancel := context.WithTimeout(a.ctx, min(a.requestTimeout, 2*time.Second))
	defer cancel()
	// The Coordinator has no lock-owner query: ask the driver (read only).
	owner, err := c.Driver().Owner(ctx, tooz.Resource{Kind: tooz.KindLock, Name: name})
	if err != nil {
		return "another process"
	}
	return strconv.Quote(owner)
}

// release gives l up on a context of its own, warning when that fails.
func (a *app) release(l *tooz.Lock) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := l.Release(ctx)
	if err != nil && !errors.Is(err, tooz.ErrLockNotHeld) {
		a.warn("release_failed", map[string]any{"lock": l.Name(), "error": err.Error()},
			fmt.Sprintf("releasing lock %q: %v (it is freed when this member's liveness expires)", l.Name(), err))
	}
	return err
}

// nameAndCommand parses "NAME -- CMD [ARGS...]" for lock and elect: noun
// names the positional argument in prose ("lock name"), placeholder in the
// usage ("lock NAME").
func (a *app) nameAndCommand(me *command, args []string, noun, placeholder string) (string, []string, error) {
	pos, argv, err := a.parseCommand(me, args)
	if err != nil {
		return "", nil, err
	}
	c := me.name
	switch {
	case len(pos) == 0:
		return "", nil, usageError(c, "tooz %s: missing the %s", c, placeholder)
	case len(pos) > 1 && argv == nil:
		return "", nil, usageError(c, "tooz %s: put \"--\" between the %s and the command: tooz %s %s -- %s", c, noun, c, pos[0], pos[1])
	case len(pos) > 1:
		return "", nil, usageError(c, "tooz %s: one %s expected, got %d: %q", c, placeholder, len(pos), pos)
	case len(argv) == 0:
		return "", nil, usageError(c, "tooz %s: missing the command: tooz %s %s -- CMD [ARGS...]", c, c, pos[0])
	}
	return pos[0], argv, nil
}
