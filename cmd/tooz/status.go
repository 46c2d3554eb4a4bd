// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/toozgo/tooz"
)

var statusCommand = &command{
	name:    "status",
	summary: "show the backend in use, its characteristics and round-trip time",
	details: `
Connects to the backend, then times a few real requests (listing the
groups) and reports their median. The URL is shown with its password and
secret options masked.`,
	example: `
tooz status
TOOZ_URL=etcd://10.0.0.1:2379 tooz status --json`,
	run: runStatus,
}

// roundTrips is how many requests status times.
const roundTrips = 5

func runStatus(a *app, me *command, args []string) error {
	if _, err := a.parseArgs(me, args); err != nil {
		return err
	}
	start := time.Now()
	c, err := a.open()
	if err != nil {
		return err
	}
	defer a.close(c)
	connect := time.Since(start)
	samples := make([]time.Duration, 0, roundTrips)
	var groups int
	for range roundTrips {
		ctx, cancel := a.request()
		t := time.Now()
		gs, err := c.Groups(ctx)
		d := time.Since(t)
		cancel()
		if err != nil {
			return a.requestError(err)
		}
		groups = len(gs)
		samples = append(samples, d)
	}
	slices.Sort(samples)
	rtt := samples[len(samples)/2]
	chars := make([]string, 0, len(c.Characteristics()))
	for _, ch := range c.Characteristics() {
		chars = append(chars, string(ch))
	}
	driver, _, _ := strings.Cut(c.URL(), ":")
	if a.json {
		a.emitJSON(a.stdout, map[string]any{
			"url":                c.URL(),
			"url_source":         a.urlSource,
			"driver":             driver,
			"member":             c.MemberID(),
			"timeout_seconds":    c.Timeout().Seconds(),
			"characteristics":    chars,
			"connect_seconds":    connect.Seconds(),
			"round_trip_seconds": rtt.Seconds(),
			"round_trip_samples": len(samples),
			"groups":             groups,
			"drivers":            tooz.Schemes(),
		})
		return nil
	}
	tw := newTable(a.stdout)
	fmt.Fprintf(tw, "url\t%s (%s)\n", c.URL(), a.urlSource)
	fmt.Fprintf(tw, "driver\t%s\n", driver)
	fmt.Fprintf(tw, "member\t%s\n", displayID(c.MemberID()))
	fmt.Fprintf(tw, "liveness timeout\t%v\n", c.Timeout())
	if len(chars) == 0 {
		chars = []string{"-"}
	}
	for i, ch := range chars {
		label := ""
		if i == 0 {
			label = "characteristics"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, ch)
	}
	fmt.Fprintf(tw, "groups\t%d\n", groups)
	fmt.Fprintf(tw, "connect\t%v\n", roundDuration(connect))
	fmt.Fprintf(tw, "round trip\t%v (median of %d group listings)\n", roundDuration(rtt), len(samples))
	fmt.Fprintf(tw, "drivers\t%s\n", strings.Join(tooz.Schemes(), ", "))
	return tw.Flush()
}

// roundDuration keeps three significant digits or so.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}
