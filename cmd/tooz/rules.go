// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/toozgo/tooz"
)

// The rules below keep the command from silently losing cross-process
// exclusion or silently ignoring a value the user wrote: an empty --url or
// $TOOZ_URL, a zero duration and a backend that does not coordinate
// processes are errors (status 2), each naming the option it is about.

// noteSet records which options fs was given, so that an explicit zero or
// empty value can be told from an absent option.
func (a *app) noteSet(fs *flag.FlagSet) {
	if a.set == nil {
		a.set = map[string]bool{}
	}
	fs.Visit(func(f *flag.Flag) { a.set[f.Name] = true })
}

// checkOptions checks the options of every command once they are parsed.
func (a *app) checkOptions(cmd string) error {
	if a.set["url"] && a.url == "" {
		return usageError(cmd, "tooz: --url is empty; give a backend URL, or leave out --url to use $TOOZ_URL, else the embedded default")
	}
	holdOffName := "hold-off"
	if a.set["restart-delay"] {
		holdOffName = "restart-delay"
	}
	durations := []struct {
		name   string
		v      time.Duration
		zeroOK bool // 0 is a meaningful value of this option
	}{
		{"timeout", a.timeout, false},
		{"request-timeout", a.requestTimeout, false},
		{"wait", a.wait, true},
		{"grace", a.grace, true},
		{"ttl", a.lockTTL, false},
		{holdOffName, a.restartDelay, true},
	}
	if a.restartDelay > tooz.MaxHoldOff {
		return usageError(cmd, "tooz: --%s %v: must be at most %v", holdOffName, a.restartDelay, tooz.MaxHoldOff)
	}
	for _, d := range durations {
		switch {
		case d.v < 0:
			return usageError(cmd, "tooz: --%s %v: must not be negative", d.name, d.v)
		case d.v == 0 && !d.zeroOK && a.set[d.name]:
			// A left-out option whose default is 0 means "the default".
			return usageError(cmd, "tooz: --%s 0: must be positive (leave the option out for the default)", d.name)
		}
	}
	return nil
}

// envURL returns $TOOZ_URL and whether it is set; set but empty (an unset
// shell variable in a cron line: TOOZ_URL=$URL tooz ...) is an error.
func envURL() (string, bool, error) {
	v, ok := os.LookupEnv("TOOZ_URL")
	if ok && v == "" {
		return "", false, &exitError{code: exitUsage, msg: "tooz: $TOOZ_URL is set but empty; set it to a backend URL or unset it to use the embedded default"}
	}
	return v, ok, nil
}

// crossProcess is the Open option the command always passes: a backend
// that does not coordinate separate processes (memory://) would let two
// tooz processes hold one lock.
func crossProcess() tooz.Option { return tooz.Require(tooz.DistributedAcrossProcesses) }

// refusedBackend explains an Open refused by crossProcess, or returns nil.
func (a *app) refusedBackend(err error) error {
	if !errors.Is(err, tooz.ErrDriverChosenPoorly) {
		return nil
	}
	return &exitError{code: exitUsage, msg: fmt.Sprintf(
		"tooz: the backend (from %s) does not coordinate separate processes (it lacks %s): "+
			"two tooz processes could both hold one lock; use file://, etcd://, consul://, zookeeper:// or redis://",
		a.urlSource, tooz.DistributedAcrossProcesses)}
}
