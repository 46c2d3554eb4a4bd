// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package driverkit

import (
	"sync/atomic"
	"testing"
)

func TestRunner(t *testing.T) {
	var r Runner
	var ran atomic.Int32
	release := make(chan struct{})
	if !r.Go(func() { <-release; ran.Add(1) }) {
		t.Fatal("Go refused work before Stop")
	}
	r.Stop()
	if r.Go(func() { ran.Add(1) }) {
		t.Fatal("Go took work after Stop")
	}
	close(release)
	r.Wait()
	if got := ran.Load(); got != 1 {
		t.Fatalf("%d goroutines ran by Wait, want 1", got)
	}
}

func TestRunnerEnter(t *testing.T) {
	var r Runner
	if !r.Enter() {
		t.Fatal("Enter refused on a live runner")
	}
	waited := make(chan struct{})
	go func() { r.Wait(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("Wait returned while an entered goroutine had not left")
	default:
	}
	r.Leave()
	<-waited
	if r.Enter() {
		t.Fatal("Enter counted a goroutine after Wait")
	}
}
