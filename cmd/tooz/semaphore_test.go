// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSemaphoreCLI runs `tooz semaphore` and `tooz lock --shared /
// --exclusive` processes on the file backend.
func TestSemaphoreCLI(t *testing.T) {
	t.Run("AtMostN", func(t *testing.T) { testSemaphoreAtMostN(t, fileEnv(t)) })
	t.Run("NoWaitAndErrors", func(t *testing.T) { testSemaphoreNoWait(t, fileEnv(t)) })
	t.Run("RWLock", func(t *testing.T) { testRWLockCLI(t, fileEnv(t)) })
}

// TestSemaphoreLostCLI freezes etcd while `tooz semaphore` runs its
// command: the permit is lost, the command stopped, tooz exits 5.
func TestSemaphoreLostCLI(t *testing.T) {
	b := startEtcd(t)
	e := b.newEnv(t)
	logf := filepath.Join(t.TempDir(), "log")
	script := fmt.Sprintf(`trap 'echo "got TERM" >> %[1]s; exit 0' TERM; echo started >> %[1]s; while :; do sleep 0.02; done`, logf)
	p := e.start(t, args("semaphore", "lost", "2", "--grace", "5s", "--", sh(script))...)
	waitFile(t, logf, hasLine("started"), longWait)
	b.server.Pause()
	defer b.server.Resume()
	waitFile(t, logf, hasLine("got TERM"), longWait)
	b.server.Resume()
	p.expectExit(exitLost, longWait)
	for _, want := range []string{
		`tooz: semaphore "lost" lost while the command ran; stopping it (SIGTERM, then SIGKILL after 5s)`,
		`tooz: semaphore "lost" was lost while the command ran (another process may hold it now); the command exited with status 0`,
	} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
		}
	}
	e.mustRun(t, 0, "semaphore", "lost", "2", "--wait", "20s", "--", "true")
}

// testSemaphoreAtMostN runs three `tooz semaphore jobs 2` processes whose
// commands log their start and end: at most two run at once.
func testSemaphoreAtMostN(t *testing.T, e env) {
	dir := t.TempDir()
	logf, gate := filepath.Join(dir, "log"), filepath.Join(dir, "gate")
	script := fmt.Sprintf(`echo "start $TOOZ_FENCING_TOKEN $TOOZ_SEMAPHORE $TOOZ_PERMITS" >> %[1]s
while [ ! -e %[2]s ]; do sleep 0.02; done
echo "end $TOOZ_FENCING_TOKEN" >> %[1]s`, logf, gate)
	var procs []*proc
	for i := range 3 {
		procs = append(procs, e.start(t, args("semaphore", "jobs", "2", "--verbose", "--member", fmt.Sprintf("p%d", i), "--", sh(script))...))
	}
	re := regexp.MustCompile(`^tooz: (waiting for semaphore "jobs", held by "p\d", "p\d"|semaphore "jobs" acquired)`)
	waited := 0
	for _, p := range procs {
		if strings.HasPrefix(p.stderr.waitFor(t, p.name+" stderr", re, longWait)[1], "waiting") {
			waited++
		}
	}
	if waited != 1 {
		t.Fatalf("%d processes waited, want 1", waited)
	}
	waitFile(t, logf, countLines(2), longWait)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		p.expectExit(0, longWait)
	}
	b, _ := os.ReadFile(logf)
	inside, seen := 0, map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		switch {
		case f[0] == "start" && len(f) == 4 && f[2] == "jobs" && f[3] == "2":
			if inside++; inside > 2 {
				t.Fatalf("three commands ran at once:\n%s", b)
			}
			if seen[f[1]] {
				t.Fatalf("fencing token %s given twice:\n%s", f[1], b)
			}
			seen[f[1]] = true
		case f[0] == "end":
			inside--
		default:
			t.Fatalf("bad log line %q:\n%s", line, b)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("%d runs, want 3:\n%s", len(seen), b)
	}
}

func testSemaphoreNoWait(t *testing.T, e env) {
	dir := t.TempDir()
	started, stop := filepath.Join(dir, "started"), filepath.Join(dir, "stop")
	holder := e.start(t, args("semaphore", "one", "1", "--member", "holder", "--", sh(fmt.Sprintf(`echo held > %s; while [ ! -e %s ]; do sleep 0.02; done`, started, stop)))...)
	waitFile(t, started, hasLine("held"), longWait)
	_, stderr := e.mustRun(t, exitNotAcquired, "semaphore", "one", "1", "--no-wait", "--", "true")
	if want := `tooz: semaphore "one" has no free permit of 1 (holders: "holder"); not acquired (--no-wait)`; !strings.Contains(stderr, want) {
		t.Errorf("--no-wait: stderr lacks %q:\n%s", want, stderr)
	}
	_, stderr = e.mustRun(t, exitNotAcquired, "semaphore", "one", "1", "--wait", "300ms", "--", "true")
	if want := `not acquired within --wait 300ms (holders: "holder")`; !strings.Contains(stderr, want) {
		t.Errorf("--wait: stderr lacks %q:\n%s", want, stderr)
	}
	_, stderr = e.mustRun(t, exitNotAcquired, "--json", "semaphore", "one", "1", "--no-wait", "--", "true")
	var v map[string]any
	if err := json.Unmarshal([]byte(stderr), &v); err != nil || v["exit_code"] != float64(exitNotAcquired) {
		t.Errorf("--json --no-wait: %v\n%s", err, stderr)
	}
	_, stderr = e.mustRun(t, exitFailure, "semaphore", "one", "3", "--no-wait", "--", "true")
	if !strings.Contains(stderr, "semaphore size mismatch") {
		t.Errorf("another size: stderr:\n%s", stderr)
	}
	for _, bad := range [][]string{{"one", "0"}, {"one", "-1"}, {"one", "x"}, {"one", "4097"}, {"", "1"}} {
		e.mustRun(t, exitUsage, args("semaphore", bad, "--", "true")...)
	}
	e.mustRun(t, exitUsage, "semaphore", "one", "--", "true")
	e.mustRun(t, exitUsage, "semaphore", "one", "1", "true")
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	holder.expectExit(0, longWait)
	// The exit statuses of lock: the command's own, 128+S.
	e.mustRun(t, 7, args("semaphore", "one", "1", "--", sh("exit 7"))...)
	_, stderr = e.mustRun(t, 5, args("--json", "semaphore", "one", "1", "--", sh("exit 5"))...)
	var events []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var v struct {
			Event     string
			Semaphore string
			Permits   int
			Token     uint64 `json:"fencing_token"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.Semaphore != "one" || v.Permits != 1 {
			t.Fatalf("--json: stderr line %q: %v", line, err)
		}
		if v.Event == "acquired" && v.Token == 0 {
			t.Errorf("--json: %q", line)
		}
		events = append(events, v.Event)
	}
	if strings.Join(events, ",") != "acquired,released" {
		t.Errorf("--json events %v, want acquired, released", events)
	}
}

// testRWLockCLI: two --shared holders run together; --exclusive waits for
// them; the plain lock of the same name is another lock.
func testRWLockCLI(t *testing.T, e env) {
	dir := t.TempDir()
	stop := filepath.Join(dir, "stop")
	var readers []*proc
	for i := range 2 {
		started := filepath.Join(dir, fmt.Sprintf("started%d", i))
		readers = append(readers, e.start(t, args("lock", "db", "--shared", "--member", fmt.Sprintf("r%d", i), "--",
			sh(fmt.Sprintf(`echo "$TOOZ_LOCK_MODE $TOOZ_FENCING_TOKEN" > %s; while [ ! -e %s ]; do sleep 0.02; done`, started, stop)))...))
		waitFile(t, started, hasLine("shared "+fmt.Sprint(i+1)), longWait)
	}
	_, stderr := e.mustRun(t, exitNotAcquired, "lock", "db", "--exclusive", "--no-wait", "--", "true")
	if !strings.Contains(stderr, `tooz: lock "db" (exclusive) is held (holders: "r0", "r1"); not acquired (--no-wait)`) {
		t.Errorf("--exclusive --no-wait: stderr:\n%s", stderr)
	}
	e.mustRun(t, 0, "lock", "db", "--no-wait", "--", "true") // the plain lock "db"
	e.mustRun(t, exitUsage, "lock", "db", "--shared", "--exclusive", "--", "true")
	e.mustRun(t, exitUsage, "lock", "db", "--shared", "--ttl", "5s", "--", "true")
	w := e.start(t, args("lock", "db", "--exclusive", "--verbose", "--", sh(`echo "$TOOZ_LOCK_MODE"`))...)
	w.stderr.waitFor(t, "writer stderr", regexp.MustCompile(`^tooz: waiting for lock "db" \(exclusive\)`), longWait)
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, r := range readers {
		r.expectExit(0, longWait)
	}
	w.expectExit(0, longWait)
	if got := w.stdout.String(); got != "exclusive\n" {
		t.Errorf("writer's command printed %q", got)
	}
}
