// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/toozgo/tooz"
)

// The test binary doubles as the second process of the cross-process
// tests: started with TOOZ_FILE_CHILD set, TestMain runs childMain instead
// of the tests.
const (
	envMode   = "TOOZ_FILE_CHILD"
	envURL    = "TOOZ_FILE_URL"
	envMember = "TOOZ_FILE_MEMBER"
	envName   = "TOOZ_FILE_NAME"
	envRounds = "TOOZ_FILE_ROUNDS"
	envShared = "TOOZ_FILE_SHARED"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMode); mode != "" {
		os.Exit(childMain(mode))
	}
	goleak.VerifyTestMain(m)
}

// childMain runs one child action, reporting on stdout line by line, then
// waits until its stdin closes (or it is killed).
func childMain(mode string) int {
	ctx := context.Background()
	c, err := tooz.Open(ctx, os.Getenv(envURL), os.Getenv(envMember))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	name := os.Getenv(envName)
	switch mode {
	case "lock":
		l := c.Lock(name)
		if err := l.Acquire(ctx); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("ready", l.FencingToken())
	case "elect":
		l, err := c.Campaign(ctx, name)
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("ready", l.FencingToken())
	case "join":
		if err := c.JoinGroupCreate(ctx, name, []byte("child")); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("ready")
	case "cycle":
		rounds, _ := strconv.Atoi(os.Getenv(envRounds))
		if err := cycle(ctx, c.Lock(name), os.Getenv(envShared), "child", rounds); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("done")
		_ = c.Close(ctx)
		return 0
	default:
		fmt.Println("error unknown mode", mode)
		return 2
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = c.Close(ctx)
	return 0
}

// cycle takes and releases l rounds times. Inside each critical section it
// checks, through files in dir shared by every process running cycle, that
// nobody else is inside and that its fencing token is above every earlier one.
func cycle(ctx context.Context, l *tooz.Lock, dir, who string, rounds int) error {
	inside := filepath.Join(dir, "inside")
	last := filepath.Join(dir, "last")
	for i := range rounds {
		if err := l.Acquire(ctx); err != nil {
			return fmt.Errorf("round %d: acquire: %w", i, err)
		}
		f, err := os.OpenFile(inside, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			holder, _ := os.ReadFile(inside)
			return fmt.Errorf("round %d: %s is inside the critical section with %s: %w", i, who, holder, err)
		}
		_, _ = f.WriteString(who)
		_ = f.Close()
		token := l.FencingToken()
		if b, err := os.ReadFile(last); err == nil {
			prev, _ := strconv.ParseUint(string(b), 10, 64)
			if token <= prev {
				return fmt.Errorf("round %d: %s has fencing token %d, not above the previous holder's %d", i, who, token, prev)
			}
		}
		if err := os.WriteFile(last, []byte(strconv.FormatUint(token, 10)), 0o644); err != nil {
			return err
		}
		if err := os.Remove(inside); err != nil {
			return err
		}
		if err := l.Release(ctx); err != nil {
			return fmt.Errorf("round %d: release: %w", i, err)
		}
	}
	return nil
}

// child is a second OS process running childMain.
type child struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	exited  chan struct{} // closed when the process was reaped
	exitErr error         // set before exited closes
}

func startChild(t *testing.T, mode, url, member, name string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envMode+"="+mode, envURL+"="+url, envMember+"="+member, envName+"="+name)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = &testWriter{t: t}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 1024), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			ch.lines <- sc.Text() // a child says little: the buffer never fills
		}
		close(ch.lines)
		ch.exitErr = cmd.Wait()
		close(ch.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-ch.exited
	})
	return ch
}

// expect waits for the child's next line, which must start with prefix,
// and returns the rest of it.
func (ch *child) expect(t *testing.T, prefix string) string {
	t.Helper()
	select {
	case line, ok := <-ch.lines:
		if !ok {
			<-ch.exited
			t.Fatalf("child exited (%v) before saying %q", ch.exitErr, prefix)
		}
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("child said %q, want %q...", line, prefix)
		}
		return strings.TrimSpace(strings.TrimPrefix(line, prefix))
	case <-time.After(30 * time.Second):
		t.Fatalf("child did not say %q within 30s", prefix)
	}
	return ""
}

// kill SIGKILLs the child and waits until the kernel has reaped it, so that
// its file descriptors are closed. It returns when the signal was sent and
// when the child was reaped (its exit, and the freeing of its flocks, fall
// in between; a race-instrumented process takes a while to tear down).
func (ch *child) kill(t *testing.T) (signalled, reaped time.Time) {
	t.Helper()
	signalled = time.Now()
	if err := ch.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ch.exited
	reaped = time.Now()
	var ee *exec.ExitError
	if !errors.As(ch.exitErr, &ee) {
		t.Fatalf("killed child: %v", ch.exitErr)
	}
	return signalled, reaped
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Logf("child: %s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func parseToken(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("token %q: %v", s, err)
	}
	return n
}
