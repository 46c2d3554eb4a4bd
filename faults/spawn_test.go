package faults

import (
	"os/exec"
	"runtime"
	"sync"
)

var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnReq)
)

type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

// spawn starts cmd from one goroutine locked to its OS thread for the life
// of the test binary. The workload processes have Pdeathsig, which Linux
// sends when the *thread* that forked them ends, and a Go thread ends
// whenever a goroutine locked to it returns (anything that enters a network
// namespace may do that): started from an ordinary thread, a process could
// be killed silently in the middle of a run.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for r := range spawnReqs {
				r.errc <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, errc: make(chan error, 1)}
	spawnReqs <- r
	return <-r.errc
}
