// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package testutil holds the test helpers that the driver packages share:
// the Config a fuzzed URL would give a driver, the checks that a parse
// error or a log keeps secrets out, a log buffer, unique names, and
// coordinators and contexts that end with the test.
//
// It is an ordinary package so that the drivers' _test files can import
// it; nothing outside tests should.
package testutil
