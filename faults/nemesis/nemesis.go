// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package nemesis injects the faults of the fault tests, one at a time,
// and records each one (its start and its end) in the test's history so
// that the checker can tell an overlap a fault explains from a bug:
//
//   - a client process frozen with SIGSTOP for a while, then SIGCONT (a GC
//     pause, a stalled VM: the holder wakes up believing it still holds);
//   - a client process killed with SIGKILL (a crash: its lock must be taken
//     over once its liveness expires);
//   - the backend killed with SIGKILL and restarted on the same data;
//   - the backend frozen with SIGSTOP for a while, then SIGCONT;
//   - a client cut off from the backend for a while by the firewall of its
//     own network namespace, dropping or rejecting the packets: the holder
//     runs on, so it must see Lost() before the backend hands its lock to
//     someone else;
//   - a client's link to the backend slowed down (its Proxy delays every
//     chunk): tooz counts its deadline from the start of the last good
//     heartbeat, so a slow holder must still never overlap the next one.
//   - one node of a replicated backend killed and restarted, or isolated
//     from its peers and clients, and a majority of its nodes taken away
//     (see cluster.go).
//
// The caller aims the fault: it passes the process that currently holds
// the lock or leads (see register.NextWriter), not a random one.
package nemesis

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/toozgo/tooz/faults/checker"
	"github.com/toozgo/tooz/faults/history"
)

// Backend is the server under test; *testserver.Server implements it.
type Backend interface {
	Kill()
	Restart() error
	Pause()
	Resume()
}

// Process is a workload process.
type Process interface {
	// Name is the process's member ID.
	Name() string
	// Pid is its operating-system process ID.
	Pid() int
	// Kill ends it with SIGKILL and waits until it has exited.
	Kill() error
}

// Nemesis injects faults into one run and records them in H.
type Nemesis struct {
	H       *history.Writer
	Backend Backend
	// BackendIPs are the addresses of the backend's hosts (every node's of
	// a cluster), which CutProcess cuts a process off from.
	BackendIPs []string
}

// ruleTimeout bounds one change of a firewall.
const ruleTimeout = 10 * time.Second

// PauseProcess freezes p with SIGSTOP for d, then lets it run again. The
// pause is recorded as it begins and as it ends.
func (n *Nemesis) PauseProcess(p Process, d time.Duration, note string) error {
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.PauseClient, Proc: p.Name(), Note: note})
	if err := syscall.Kill(p.Pid(), syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pause %s: %w", p.Name(), err)
	}
	time.Sleep(d) // the fault's duration, not synchronization
	err := syscall.Kill(p.Pid(), syscall.SIGCONT)
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.ResumeClient, Proc: p.Name()})
	if err != nil {
		return fmt.Errorf("resume %s: %w", p.Name(), err)
	}
	return nil
}

// KillProcess kills p with SIGKILL. The kill is recorded once p is gone, so
// that nothing p wrote comes after the record.
func (n *Nemesis) KillProcess(p Process, note string) error {
	err := p.Kill()
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.KillClient, Proc: p.Name(), Note: note})
	return err
}

// KillBackend kills the backend with SIGKILL and restarts it on the same
// data directory and ports, recording the kill and the moment it serves
// again.
func (n *Nemesis) KillBackend(note string) error {
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.KillBackend, Proc: "backend", Note: note})
	n.Backend.Kill()
	err := n.Backend.Restart()
	r := history.Rec{Type: history.Nemesis, F: checker.RestartBackend, Proc: "backend"}
	if err != nil {
		r.Err = err.Error()
	}
	n.H.Add(r)
	return err
}

// Partition is how a process is cut off from the backend: the firewall of
// its own network namespace (*netlab.Host implements it).
type Partition interface {
	CutFrom(ctx context.Context, ips ...string) error
	RejectFrom(ctx context.Context, ips ...string) error
	Heal(ctx context.Context) error
}

// How a cut treats the packets between a process and the backend.
const (
	// Drop discards them silently: requests time out.
	Drop = "drop"
	// Reject refuses them with TCP resets: requests fail at once.
	Reject = "reject"
)

// CutProcess cuts p off from the backend's hosts (BackendIPs) for d with the
// firewall of p's own host, dropping or rejecting (how) every packet
// between them, then heals the cut. p runs on and still reaches everything
// else (the register). The cut is recorded as a CutClient fault whose Note
// begins with how.
func (n *Nemesis) CutProcess(p Process, h Partition, how string, d time.Duration, note string) error {
	ctx, cancel := context.WithTimeout(context.Background(), ruleTimeout)
	defer cancel()
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.CutClient, Proc: p.Name(), Note: how + " " + note})
	var err error
	switch how {
	case Drop:
		err = h.CutFrom(ctx, n.BackendIPs...)
	case Reject:
		err = h.RejectFrom(ctx, n.BackendIPs...)
	default:
		err = fmt.Errorf("unknown cut %q", how)
	}
	if err == nil {
		time.Sleep(d) // the fault's duration, not synchronization
	}
	hctx, hcancel := context.WithTimeout(context.Background(), ruleTimeout)
	defer hcancel()
	herr := h.Heal(hctx)
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.HealClient, Proc: p.Name()})
	if err = errors.Join(err, herr); err != nil {
		return fmt.Errorf("cut %s: %w", p.Name(), err)
	}
	return nil
}

// SlowProcess delays every chunk of data between p and the backend by
// delay in each direction (on p's proxy) for d, then restores the link.
// The slow link is recorded as a SlowClient fault, its end as FastClient.
func (n *Nemesis) SlowProcess(p Process, px *Proxy, delay, d time.Duration, note string) {
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.SlowClient, Proc: p.Name(), Note: fmt.Sprintf("%v %s", delay, note)})
	px.SetDelay(delay)
	time.Sleep(d) // the fault's duration, not synchronization
	px.SetDelay(0)
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.FastClient, Proc: p.Name()})
}

// PauseBackend freezes the backend with SIGSTOP for d, then resumes it.
func (n *Nemesis) PauseBackend(d time.Duration, note string) {
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.PauseBackend, Proc: "backend", Note: note})
	n.Backend.Pause()
	time.Sleep(d) // the fault's duration, not synchronization
	n.Backend.Resume()
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.ResumeBackend, Proc: "backend"})
}
