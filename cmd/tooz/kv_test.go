// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// testKV drives `tooz kv` through a compare-and-swap round, a listing and
// a watch.
func testKV(t *testing.T, e env) {
	w := e.start(t, "kv", "watch", "cfg/", "--json")
	w.stdout.waitFor(t, "watch stdout", regexp.MustCompile(`^\{.*"event":"listed".*"keys":\[\]`), longWait)

	out, _ := e.mustRun(t, 0, "kv", "put", "cfg/a", `{"max": 8}`, "--json")
	var row struct {
		Key      string `json:"key"`
		Value    string `json:"value"`
		Revision uint64 `json:"revision"`
	}
	if err := json.Unmarshal([]byte(out), &row); err != nil || row.Key != "cfg/a" || row.Revision == 0 {
		t.Fatalf("put --json = %q (%v)", out, err)
	}
	w.stdout.waitFor(t, "watch stdout", regexp.MustCompile(`^\{"event":"put",.*"key":"cfg/a","value":"\{\\"max\\": 8\}","revision":`+strconv.FormatUint(row.Revision, 10)), longWait)
	if out, _ := e.mustRun(t, 0, "kv", "get", "cfg/a"); out != "{\"max\": 8}\n" {
		t.Fatalf("get = %q", out)
	}
	rev := strconv.FormatUint(row.Revision, 10)
	e.mustRun(t, 0, "kv", "put", "cfg/a", "9", "--if-revision", rev)
	_, errOut := e.mustRun(t, 1, "kv", "put", "cfg/a", "10", "--if-revision", rev)
	if !strings.Contains(errOut, "not at revision") {
		t.Fatalf("stale --if-revision: stderr %q", errOut)
	}
	e.mustRun(t, 1, "kv", "put", "cfg/a", "11", "--if-revision", "0")
	if out, _ := e.mustRun(t, 0, "kv", "get", "cfg/a"); out != "9\n" {
		t.Fatalf("after the refused writes, get = %q, want 9", out)
	}
	e.mustRun(t, 0, "kv", "put", "cfg/b", "two words")
	e.mustRun(t, 0, "kv", "put", "other", "outside")
	out, _ = e.mustRun(t, 0, "kv", "ls", "cfg/")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "KEY") || !strings.HasPrefix(lines[1], "cfg/a ") || !strings.Contains(lines[2], "two words") {
		t.Fatalf("ls cfg/:\n%s", out)
	}
	out, _ = e.mustRun(t, 0, "kv", "ls", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("ls --json = %q (%v)", out, err)
	}
	e.mustRun(t, 1, "kv", "del", "cfg/b", "--if-revision", "1")
	e.mustRun(t, 0, "kv", "del", "cfg/b")
	e.mustRun(t, 1, "kv", "del", "cfg/b")
	e.mustRun(t, 1, "kv", "get", "cfg/b")
	w.stdout.waitFor(t, "watch stdout", regexp.MustCompile(`^\{"event":"deleted",.*"key":"cfg/b"`), longWait)
	if strings.Contains(w.stdout.String(), `"key":"other"`) {
		t.Fatalf("the watch of cfg/ reported a key outside it:\n%s", w.stdout)
	}
	e.mustRun(t, 2, "kv", "get", "")
	e.mustRun(t, 2, "kv", "ls", "a", "b")
	e.mustRun(t, 2, "kv", "get", "cfg/a", "--if-revision", "3")
	w.signal(syscall.SIGINT)
	w.expectExit(0, longWait)
}
