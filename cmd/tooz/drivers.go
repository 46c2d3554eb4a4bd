// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

// Every built-in backend.
import _ "github.com/toozgo/tooz/drivers/all"
