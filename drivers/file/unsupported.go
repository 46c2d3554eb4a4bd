// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package file

import (
	"context"
	"fmt"
	"runtime"

	"github.com/toozgo/tooz"
)

func init() { tooz.Register("file", driver{}) }

// driver reports that file locks and inotify are not available here.
type driver struct{}

// Options implements tooz.Driver.
func (driver) Options() []string { return []string{"sync", "poll"} }

// Open implements tooz.Driver: it always fails on this platform.
func (driver) Open(context.Context, tooz.Config) (tooz.CoordinationDriver, error) {
	return nil, fmt.Errorf("%w: the file driver needs flock(2), not available on %s", tooz.ErrNotSupported, runtime.GOOS)
}
