// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"strings"
	"testing"
)

// TestRejoinMessageMatchesTooz: the workload recognises the coordinator's
// own re-joins by their log message (see rejoinRecorder); without the
// Rejoin records the membership check takes them for members back from the
// past. This fails when heart.go changes the message.
func TestRejoinMessageMatchesTooz(t *testing.T) {
	src, err := os.ReadFile("../../heart.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `"`+rejoinMsg+`"`) {
		t.Fatalf("heart.go no longer logs %q before re-joining: update rejoinMsg", rejoinMsg)
	}
}
