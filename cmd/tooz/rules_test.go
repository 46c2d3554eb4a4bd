// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestNoSilentFallback checks the rules that keep tooz from silently losing
// cross-process exclusion: an empty URL, a backend that does not coordinate
// processes and a zero duration are usage errors naming what is wrong.
func TestNoSilentFallback(t *testing.T) {
	e := env{cache: t.TempDir()}
	cases := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"empty --url", args("--url", "", "lock", "x", "--", "true"), "--url is empty"},
		{"empty --url=", args("--url=", "groups"), "--url is empty"},
		{"empty --url after the command", args("groups", "--url", ""), "--url is empty"},
		{"memory backend", args("--url", "memory://x", "lock", "x", "--no-wait", "--", "true"), "does not coordinate separate processes (it lacks distributed_across_processes)"},
		{"memory backend, status", args("--url", "memory://", "status"), "does not coordinate separate processes"},
		{"--timeout 0", args("--url", "file://"+t.TempDir(), "--timeout", "0", "groups"), "--timeout 0: must be positive"},
		{"--ttl 0", args("--url", "file://"+t.TempDir(), "lock", "x", "--ttl", "0", "--", "true"), "--ttl 0: must be positive"},
		{"negative --grace", args("lock", "x", "--grace", "-1s", "--", "true"), "--grace -1s: must not be negative"},
		{"--request-timeout 0", args("--request-timeout", "0", "groups"), "--request-timeout 0: must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := e.run(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.stderr, stderr)
			}
			if stdout != "" {
				t.Errorf("usage error printed on stdout:\n%s", stdout)
			}
		})
	}
	// The embedded default must not have been created by any of them.
	if _, err := os.Stat(filepath.Join(e.cache, "tooz")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an empty URL fell back to the embedded default: %v", err)
	}
}

// TestEmptyEnvURL checks that TOOZ_URL set to "" (TOOZ_URL=$UNSET tooz ...)
// is an error, not the embedded default.
func TestEmptyEnvURL(t *testing.T) {
	e := env{cache: t.TempDir()}
	cmd := exec.Command(toozBin, "lock", "x", "--", "true")
	cmd.Env = append(e.list(), "TOOZ_URL=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
		t.Fatalf("TOOZ_URL= tooz lock: %v, want exit status %d\nstderr:\n%s", err, exitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "$TOOZ_URL is set but empty") {
		t.Errorf("stderr does not explain the empty $TOOZ_URL:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(e.cache, "tooz")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an empty $TOOZ_URL fell back to the embedded default: %v", err)
	}
}

// TestVersion checks that tooz version reports the build's versions.
func TestVersion(t *testing.T) {
	e := env{cache: t.TempDir()}
	stdout, _ := e.mustRun(t, 0, "version")
	if !strings.HasPrefix(stdout, "tooz ") || !strings.Contains(stdout, "go1.") || !strings.Contains(stdout, "github.com/redis/go-redis/v9") {
		t.Errorf("tooz version:\n%s", stdout)
	}
	stdout, _ = e.mustRun(t, 0, "version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("tooz version --json: %v\n%s", err, stdout)
	}
	if v.Version == "" || v.Version == "unknown" || !strings.HasPrefix(v.Go, "go1.") || v.Deps["go.etcd.io/etcd/client/v3"] == "" {
		t.Errorf("tooz version --json: %+v", v)
	}
}

// TestJSONOnlyJSON checks that with --json every line on stderr is a JSON
// object, the client libraries' log lines included (go-redis logs a failed
// dial through its process-global logger), and that no password shows.
func TestJSONOnlyJSON(t *testing.T) {
	e := env{cache: t.TempDir()}
	closed := closedPort(t)
	for _, a := range [][]string{
		args("--json", "--url", "redis://alice:hunter2@127.0.0.1:"+closed, "--request-timeout", "1s", "groups"),
		args("--json", "--url", "redis://alice:hunter2@127.0.0.1:"+closed, "--request-timeout", "1s", "lock", "x", "--verbose", "--", "true"),
	} {
		stdout, stderr, code := e.run(t, a...)
		if code != exitUnreachable {
			t.Errorf("tooz %s: exit status %d, want %d", strings.Join(a, " "), code, exitUnreachable)
		}
		lines := strings.Split(strings.TrimSpace(stdout+stderr), "\n")
		for _, line := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Errorf("tooz %s: a line is not JSON: %q", strings.Join(a, " "), line)
			}
			if strings.Contains(line, "hunter2") {
				t.Errorf("password printed: %q", line)
			}
		}
		if !strings.Contains(stderr, `"exit_code":3`) {
			t.Errorf("no JSON error on stderr:\n%s", stderr)
		}
	}
}

// TestOwnerAndGroupDelete checks tooz owner on a held and a free lock, and
// tooz group delete on a group with a member, an empty one and a missing one.
func TestOwnerAndGroupDelete(t *testing.T) {
	e := fileEnv(t)
	lock, group := unique("lock"), unique("group")
	// The command run under the lock asks who holds it.
	stdout, _ := e.mustRun(t, 0, "lock", lock, "--member", "holder-1", "--", toozBin, "owner", lock)
	if stdout != "holder-1\n" {
		t.Errorf("tooz owner of a held lock printed %q, want holder-1", stdout)
	}
	stdout, stderr := e.mustRun(t, exitFailure, "owner", lock)
	if stdout != "" || !strings.Contains(stderr, "is not held") || strings.Contains(stderr, "leader") {
		t.Errorf("tooz owner of a free lock: stdout %q, stderr %q", stdout, stderr)
	}
	stdout, _ = e.mustRun(t, exitFailure, "owner", lock, "--json")
	if strings.TrimSpace(stdout) != `{"lock":"`+lock+`","owner":null}` {
		t.Errorf("tooz owner --json of a free lock: %q", stdout)
	}

	j := e.start(t, "join", group, "--member", "joiner")
	j.stderr.waitFor(t, "join's stderr", regexp.MustCompile(`joined group`), shortWait)
	_, stderr = e.mustRun(t, exitFailure, "group", "delete", group)
	if !strings.Contains(stderr, "not empty") {
		t.Errorf("tooz group delete of a group with a member: %q", stderr)
	}
	j.signal(syscall.SIGTERM)
	if code := j.wait(shortWait); code != 0 {
		t.Fatalf("tooz join ended with %d, want 0", code)
	}
	e.mustRun(t, 0, "group", "delete", group)
	stdout, _ = e.mustRun(t, exitFailure, "members", group)
	if stdout != "" {
		t.Errorf("members of a deleted group: %q", stdout)
	}
	e.mustRun(t, exitFailure, "group", "delete", group)
	e.mustRun(t, exitUsage, "group", "remove", group)
}
