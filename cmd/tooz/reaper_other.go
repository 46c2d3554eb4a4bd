// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package main

// reaperArg is the hidden first argument that makes tooz the watcher.
const reaperArg = "__tooz-reap-group"

// startReaper does nothing where there are no process groups to kill.
func startReaper(int) (finish func(), err error) { return func() {}, nil }

// runReaper is never used where startReaper does nothing.
func runReaper(string) int { return exitUsage }
