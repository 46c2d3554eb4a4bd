// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"time"
)

// lookCommand finds the program argv[0] names, before anything is acquired,
// so that a typo fails at once (status 127, or 126 when it cannot be run).
func lookCommand(argv []string) (string, error) {
	path, err := exec.LookPath(argv[0])
	if err == nil {
		return path, nil
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return "", exitf(exitNotFound, "tooz: command not found: %s", argv[0])
	}
	return "", exitf(exitCannotRun, "tooz: cannot run %s: %v", argv[0], unwrapPathError(err))
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// outcome is how a supervised command ended.
type outcome struct {
	status int       // its exit status, or 128+S when signal S killed it
	how    string    // "exited with status 3", "was killed by SIGTERM"
	lost   bool      // the lock or leadership was lost while it ran, and it was stopped
	killed bool      // it outlived --grace and got SIGKILL
	sig    os.Signal // the first terminating signal tooz received and forwarded, if any
}

// runChild runs argv (program path) with env added, as long as lost stays
// open. When lost closes, it calls onLost, sends SIGTERM to the command's
// process group and SIGKILL after the grace period. Terminating signals
// tooz receives are forwarded likewise; SIGUSR1 and SIGUSR2 are forwarded.
// It returns when the command has ended.
func (a *app) runChild(path string, argv, env []string, lost <-chan struct{}, onLost func()) (outcome, error) {
	sigs := make(chan os.Signal, 8)
	stopRouting := a.signals.route(sigs)
	defer stopRouting()
	if s := a.signals.received(); s != nil {
		return outcome{}, interrupted(s, "before the command started")
	}
	cmd := exec.Command(path)
	cmd.Args = slices.Clone(argv)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	foreground := prepareChild(cmd)
	if err := cmd.Start(); err != nil {
		if foreground {
			reclaimTerminal()
		}
		return outcome{}, exitf(exitCannotRun, "tooz: cannot run %s: %v", argv[0], unwrapPathError(err))
	}
	finishReaper, err := startReaper(cmd.Process.Pid) // see reaper_unix.go
	if err != nil {
		a.warn("reaper", map[string]any{"error": err.Error()},
			fmt.Sprintf("cannot watch the command's process group (its children may outlive a killed tooz): %v", err))
	}
	defer finishReaper()
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the status is in cmd.ProcessState
		close(done)
	}()

	var out outcome
	var grace <-chan time.Time
	startGrace := func() {
		if grace == nil && !out.killed {
			t := time.NewTimer(a.grace)
			grace = t.C
		}
	}
	for {
		select {
		case <-done:
			out.status, out.how = exitStatus(cmd.ProcessState)
			if foreground {
				reclaimTerminal()
				// The terminal's Ctrl-C (or Ctrl-\) went to the command
				// alone. As shells do, take a command killed by it for
				// an interrupt of tooz too, so that --standby stops.
				if s := killedBy(cmd.ProcessState); s == sigInt || s == sigQuit {
					a.signals.interrupt(sigInt)
				}
			}
			return out, nil
		case <-lost:
			lost = nil
			out.lost = true
			if onLost != nil {
				onLost()
			}
			if err := signalChild(cmd.Process, sigTerm); err != nil {
				a.log.Warn("tooz: cannot signal the command", "err", err)
			}
			startGrace()
		case s := <-sigs:
			if slices.Contains(terminating, s) {
				if out.sig == nil {
					out.sig = s
				}
				startGrace()
			}
			if err := signalChild(cmd.Process, s); err != nil {
				a.log.Warn("tooz: cannot forward the signal to the command", "signal", signalName(s), "err", err)
			}
		case <-grace:
			grace = nil
			out.killed = true
			if err := signalChild(cmd.Process, sigKill); err != nil {
				a.log.Warn("tooz: cannot kill the command", "err", err)
			}
		}
	}
}

// stopDescription says how a command that tooz stopped ended.
func (a *app) stopDescription(out outcome) string {
	if out.killed {
		return fmt.Sprintf("the command did not exit within --grace %v and was killed (status %d)", a.grace, out.status)
	}
	return fmt.Sprintf("the command %s", out.how)
}

// childExit is the error that makes tooz exit with the command's status.
func childExit(out outcome) error {
	if out.status == 0 {
		return nil
	}
	return &exitError{code: out.status, command: true}
}
