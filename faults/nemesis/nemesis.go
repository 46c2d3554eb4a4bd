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
//   - a client cut off from the backend (its Proxy forwards nothing) for a
//     while: the holder runs on, so it must see Lost() before the backend
//     hands its lock to someone else;
//   - one node of a replicated backend killed and restarted, or isolated
//     from its peers and clients, and a majority of its nodes taken away
//     (see cluster.go).
//
// The caller aims the fault: it passes the process that currently holds
// the lock or leads (see register.NextWriter), not a random one.
package nemesis

import (
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
}

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

// CutProcess cuts p off from the backend for d through its proxy (p runs
// on, but its packets go nowhere), then heals the cut.
func (n *Nemesis) CutProcess(p Process, px *Proxy, d time.Duration, note string) {
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.CutClient, Proc: p.Name(), Note: note})
	px.Cut()
	time.Sleep(d) // the fault's duration, not synchronization
	px.Heal()
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.HealClient, Proc: p.Name()})
}

// PauseBackend freezes the backend with SIGSTOP for d, then resumes it.
func (n *Nemesis) PauseBackend(d time.Duration, note string) {
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.PauseBackend, Proc: "backend", Note: note})
	n.Backend.Pause()
	time.Sleep(d) // the fault's duration, not synchronization
	n.Backend.Resume()
	n.H.Add(history.Rec{Type: history.Nemesis, F: checker.ResumeBackend, Proc: "backend"})
}
