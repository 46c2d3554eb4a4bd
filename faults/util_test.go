// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"strings"

	"github.com/toozgo/tooz/faults/checker"
	"github.com/toozgo/tooz/faults/history"
)

func converged(recs []history.Rec, live []string) bool { return checker.Converged(recs, live) }

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
