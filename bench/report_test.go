// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// samples is a set of durations with percentiles.
type samples []time.Duration

func (s samples) sorted() samples {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// q returns the q-quantile (nearest rank), 0 for no samples.
func (s samples) q(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := s.sorted()
	return c[int(math.Round(q*float64(len(c)-1)))]
}

func (s samples) p50() time.Duration { return s.q(0.5) }
func (s samples) p99() time.Duration { return s.q(0.99) }

func (s samples) mean() time.Duration {
	if len(s) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return sum / time.Duration(len(s))
}

// row is one line of a backend's table.
type row struct {
	metric, ours, raw, ratio, bar, verdict string
}

// report collects the rows of every backend and the notes on settings.
type report struct {
	mu       sync.Mutex
	order    []string
	rows     map[string][]row
	settings map[string]string
}

var results = &report{rows: map[string][]row{}, settings: map[string]string{}}

func (r *report) add(backend string, x row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.rows[backend]; !ok {
		r.order = append(r.order, backend)
	}
	r.rows[backend] = append(r.rows[backend], x)
}

func (r *report) setting(backend, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.rows[backend]; !ok {
		r.order = append(r.order, backend)
		r.rows[backend] = nil
	}
	r.settings[backend] = s
}

// markdown renders every backend's table.
func (r *report) markdown(header string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString(header)
	for _, be := range r.order {
		fmt.Fprintf(&b, "\n### %s\n\n", be)
		if s := r.settings[be]; s != "" {
			fmt.Fprintf(&b, "%s\n\n", s)
		}
		b.WriteString("| measurement | tooz | raw client | tooz/raw | bar | meets bar |\n|---|---|---|---|---|---|\n")
		for _, x := range r.rows[be] {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", x.metric, x.ours, x.raw, x.ratio, x.bar, x.verdict)
		}
	}
	return b.String()
}

// writeReport writes the tables to $TOOZ_BENCH_OUT when it is set, and
// logs them when log is set.
func writeReport(t *testing.T, header string, log bool) {
	md := results.markdown(header)
	if log {
		t.Log("\n" + md)
	}
	if out := os.Getenv("TOOZ_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			t.Errorf("write %s: %v", out, err)
		}
	}
}

// ms formats a duration in milliseconds, or microseconds below 0.1 ms.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) < 0.01:
		return fmt.Sprintf("%.1f µs", v*1000)
	case math.Abs(v) < 0.1:
		return fmt.Sprintf("%.0f µs", v*1000)
	case math.Abs(v) < 10:
		return fmt.Sprintf("%.2f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
