// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package memory

import (
	"context"
	"fmt"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// AcquireShared implements tooz.SharedAcquirer: the contender joins the
// resource's in-process queue, and promote hands out what frees up.
func (c *conn) AcquireShared(ctx context.Context, res tooz.Resource, sh tooz.Share, wait bool) (tooz.Ownership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := resKey{res.Kind, res.Name}
	c.st.mu.Lock()
	s, err := c.live()
	if err != nil {
		c.st.mu.Unlock()
		return nil, err
	}
	r := c.st.res[key]
	if r == nil {
		r = &resource{}
		c.st.res[key] = r
	}
	var buf [16]tooz.Share
	ahead := buf[:0]
	for _, q := range r.queue {
		ahead = append(ahead, q.share)
	}
	if err := sh.Agrees(ahead); err != nil {
		c.st.mu.Unlock()
		return nil, err
	}
	if !wait && !sh.Holds(ahead) {
		c.st.mu.Unlock()
		return nil, tooz.ErrNotAcquired
	}
	ct := &contender{key: key, sess: s, share: sh, ready: make(chan struct{}), hold: driverkit.NewHold()}
	r.queue = append(r.queue, ct)
	s.owns[ct] = struct{}{}
	c.st.promote(r)
	c.st.mu.Unlock()
	select {
	case <-ct.ready:
		return &ownership{Hold: ct.hold, st: c.st, ct: ct}, nil
	case <-ct.hold.Lost():
		return nil, fmt.Errorf("%w: the session expired while waiting", tooz.ErrSessionLost)
	case <-ctx.Done():
		c.st.mu.Lock()
		c.st.withdraw(ct)
		c.st.mu.Unlock()
		return nil, ctx.Err()
	}
}

// Holders implements tooz.SharedAcquirer.
func (c *conn) Holders(ctx context.Context, res tooz.Resource) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if c.closed {
		return nil, tooz.ErrClosed
	}
	var ids []string
	if r := c.st.res[resKey{res.Kind, res.Name}]; r != nil {
		for _, ct := range r.queue {
			if ct.held {
				ids = append(ids, ct.sess.conn.member)
			}
		}
	}
	return ids, nil
}
