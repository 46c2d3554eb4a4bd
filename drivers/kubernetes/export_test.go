// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"fmt"

	"github.com/toozgo/tooz"
)

// BreakWatches ends c's ConfigMap watches (memberships, keys) and keeps
// them from starting again until ReleaseWatches: whatever changes
// meanwhile can only reach them through a new listing.
func BreakWatches(c *tooz.Coordinator) error {
	d, ok := c.Driver().(*conn)
	if !ok {
		return fmt.Errorf("driver is %T", c.Driver())
	}
	d.breakWatches(make(chan struct{}))
	return nil
}

// ReleaseWatches lets c's watches list and watch again.
func ReleaseWatches(c *tooz.Coordinator) {
	if d, ok := c.Driver().(*conn); ok {
		if hold := d.testHold.Swap(nil); hold != nil {
			close(*hold)
		}
	}
}
