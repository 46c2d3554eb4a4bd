// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !race

package main

// raceEnabled builds the binary under test with -race when the tests run with it.
const raceEnabled = false
