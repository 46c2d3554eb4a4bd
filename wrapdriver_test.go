// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"

	"github.com/toozgo/tooz"
)

// memoryWrapper is a driver for tests: memory:// (the URL's host names the
// shared state) with each connection wrapped by the function, which is
// given the Config the wrapper was opened with.
type memoryWrapper func(cfg tooz.Config, inner tooz.CoordinationDriver) tooz.CoordinationDriver

// Options implements tooz.Driver.
func (memoryWrapper) Options() []string { return nil }

// Open implements tooz.Driver: the inner coordinator runs without its
// heart, so that only the outer one beats.
func (w memoryWrapper) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	inner, err := tooz.Open(ctx, "memory://"+cfg.URL.Host, cfg.MemberID, tooz.WithTimeout(cfg.Timeout), tooz.WithoutHeart())
	if err != nil {
		return nil, err
	}
	return w(cfg, inner.Driver()), nil
}
