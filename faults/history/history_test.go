// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package history

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	a, err := Create(filepath.Join(dir, "a.jsonl"), "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Create(filepath.Join(dir, "b.jsonl"), "b")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(2)
		go func() { defer wg.Done(); a.Add(Rec{Type: Invoke, F: FLock, Acq: int64(i)}) }()
		go func() { defer wg.Done(); b.Add(Rec{Type: OK, F: FLock, Token: uint64(i), Members: []string{"x", "y"}}) }()
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// A record cut short (a full disk) is ignored, not an error.
	f, _ := os.OpenFile(filepath.Join(dir, "b.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"t":1,"p":"b","ty`)
	f.Close()
	recs, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 100 {
		t.Fatalf("read %d records, want 100", len(recs))
	}
	perProc := map[string]int{}
	for i, r := range recs {
		if i > 0 && r.T < recs[i-1].T {
			t.Fatalf("records out of time order at %d", i)
		}
		if r.T == 0 || (r.Proc != "a" && r.Proc != "b") {
			t.Fatalf("record not stamped: %v", r)
		}
		perProc[r.Proc]++
	}
	if perProc["a"] != 50 || perProc["b"] != 50 {
		t.Fatalf("per process: %v", perProc)
	}
}

func TestNowIsMonotonic(t *testing.T) {
	prev := Now()
	for range 1000 {
		n := Now()
		if n < prev {
			t.Fatalf("clock went back: %d < %d", n, prev)
		}
		prev = n
	}
}
