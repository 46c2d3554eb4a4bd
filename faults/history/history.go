// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package history records what the processes of a fault test did and saw,
// as JSON lines with timestamps from one machine-wide monotonic clock, and
// reads those records back for the checker.
//
// Every process of a run (the workload processes and the test process,
// which records the register's writes and the nemesis' faults) appends to a
// file of its own. Each record is written with a single write(2) call, so
// a record is either entirely in the file or absent, even when the process
// is killed with SIGKILL right after.
package history

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Record types.
const (
	// Invoke, OK, Fail and Info mark an operation (F) being called and its
	// outcome: done, definitely not done, or indeterminate (a timeout or
	// connection error: it may or may not have taken effect).
	Invoke = "invoke"
	OK     = "ok"
	Fail   = "fail"
	Info   = "info"
	// Enter and Exit bracket a critical section: holding the lock (F
	// "lock") or acting as the leader (F "lead") of Res with Token.
	Enter = "enter"
	Exit  = "exit"
	// Lost records a Lost() channel closing for acquisition Acq without a
	// release or resignation having been asked for.
	Lost = "lost"
	// Event records a membership event seen (F "join" or "leave", Member).
	Event = "event"
	// View records a process's view of the group's members after a change.
	View = "view"
	// Write records the fenced register receiving a write (Accepted).
	Write = "write"
	// Nemesis records a fault being injected or healed (F names it).
	Nemesis = "nemesis"
	// Process records the life of a workload process (F "start", "stop",
	// "exit", "crash", "panic", "leak").
	Process = "process"
)

// Operation and section names used in F.
const (
	FLock     = "lock"
	FRelease  = "release"
	FCampaign = "campaign"
	FResign   = "resign"
	FLead     = "lead"
	FJoin     = "join"
	FLeave    = "leave"
	FWrite    = "write"
)

// Rec is one history record.
type Rec struct {
	T        int64    `json:"t"`              // nanoseconds on CLOCK_MONOTONIC
	Proc     string   `json:"p"`              // the process (member ID) it is about
	Type     string   `json:"type"`           // one of the record types
	F        string   `json:"f,omitempty"`    // the operation, section or fault
	Res      string   `json:"res,omitempty"`  // lock or election name
	Acq      int64    `json:"acq,omitempty"`  // acquisition number, unique per process
	Token    uint64   `json:"tok,omitempty"`  // fencing token
	Accepted bool     `json:"acc,omitempty"`  // for Write: the register accepted it
	Member   string   `json:"m,omitempty"`    // for Event
	Members  []string `json:"ms,omitempty"`   // for View
	Err      string   `json:"err,omitempty"`  // error text
	Note     string   `json:"note,omitempty"` // anything else worth showing
	File     string   `json:"-"`              // the file it was read from
	Line     int      `json:"-"`              // its line in that file
}

func (r Rec) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// Now returns the machine-wide monotonic clock (CLOCK_MONOTONIC) in
// nanoseconds: it is the same in every process of the machine and never
// jumps with the wall clock.
func Now() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(fmt.Sprintf("history: clock_gettime: %v", err))
	}
	return ts.Nano()
}

// Writer appends records to one history file. Its methods are safe for
// concurrent use.
type Writer struct {
	proc string
	mu   sync.Mutex
	f    *os.File
	err  error
}

// Create opens path for appending the records of process proc.
func Create(path, proc string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Writer{proc: proc, f: f}, nil
}

// Add stamps r with the clock (unless T is set) and the writer's process
// (unless Proc is set), and appends it with one write call. It returns r as
// written.
func (w *Writer) Add(r Rec) Rec {
	if r.Proc == "" {
		r.Proc = w.proc
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.T == 0 {
		r.T = Now() // under the lock: the file is in time order
	}
	b, err := json.Marshal(r)
	if err == nil {
		_, err = w.f.Write(append(b, '\n'))
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	return r
}

// Close closes the file and reports the first write error.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = err
	}
	return w.err
}

// ReadFile reads every complete record of one history file. A truncated
// last line (a process killed in the middle of a write cannot leave one,
// but a full disk can) is ignored.
func ReadFile(path string) ([]Rec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, path)
}

func read(r io.Reader, name string) ([]Rec, error) {
	var out []Rec
	br := bufio.NewReader(r)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return out, nil // an unterminated last line is incomplete
		}
		if err != nil {
			return out, err
		}
		var rec Rec
		if err := json.Unmarshal(b, &rec); err != nil {
			return out, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		rec.File, rec.Line = filepath.Base(name), line
		out = append(out, rec)
	}
}

// ReadDir reads every *.jsonl file of dir and returns all records sorted
// by time (records of one file keep their order).
func ReadDir(dir string) ([]Rec, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	var all []Rec
	for _, p := range paths {
		recs, err := ReadFile(p)
		if err != nil {
			return nil, err
		}
		all = append(all, recs...)
	}
	Sort(all)
	return all, nil
}

// Sort orders records by time, then file and line.
func Sort(recs []Rec) {
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if a.T != b.T {
			return a.T < b.T
		}
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c < 0
		}
		return a.Line < b.Line
	})
}
