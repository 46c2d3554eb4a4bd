// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"

	goredis "github.com/redis/go-redis/v9"
)

// reloadTopology makes a Redis Cluster client load the slot map again
// after err, when err says a node may be gone (a connection error or a
// timeout). go-redis reloads the map on MOVED and ASK replies, and
// otherwise only every 60 seconds: after a master died and its replica
// took over, every command for the master's slots would go on failing
// against the dead address for up to a minute. The reload runs in the
// background and go-redis coalesces concurrent requests, so a burst of
// errors costs one CLUSTER SLOTS.
func (c *conn) reloadTopology(err error) {
	cc, ok := c.rdb.(*goredis.ClusterClient)
	if !ok {
		return
	}
	if isConnErr(err) || errors.Is(err, context.DeadlineExceeded) {
		cc.ReloadState(context.Background())
	}
}
