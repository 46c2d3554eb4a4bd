// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/sharerec"
)

// Semaphores and read/write locks: each contender is a Lease of its own,
// labelled with its queue (a hash of the resource) and carrying its share
// (sharerec's record) in an annotation. The queue's order is the order of
// creation, which the Lease's resourceVersion gives (contender Leases are
// never updated); it is also the contender's fencing token. A contender
// holds by tooz.Share.Holds over the live contenders ahead of it; a waiter
// watches its queue and rechecks at the deadline of the sessions ahead.

const (
	labelQueue = "tooz.dev/queue" // contender: hash of its resource
	annShare   = "tooz.dev/share" // contender: sharerec record
)

func (c *conn) queue(res tooz.Resource) string {
	return hash(c.nsHash, strconv.Itoa(int(res.Kind)), res.Name)
}

// contender is one entry of a queue, as listed.
type contender struct {
	rv      uint64
	share   tooz.Share
	member  string
	session string
}

// AcquireShared implements tooz.SharedAcquirer.
func (c *conn) AcquireShared(ctx context.Context, res tooz.Resource, sh tooz.Share, wait bool) (tooz.Ownership, error) {
	s, err := c.session()
	if err != nil {
		return nil, err
	}
	q := c.queue(res)
	id := driverkit.NewID()
	name := "tooz-q-" + q[:16] + "-" + id
	holder := c.member
	l := &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				labelNamespace: c.nsHash, labelKind: "contender", labelQueue: q,
				labelSession: s.name, labelCoordinator: c.id,
			},
			Annotations: map[string]string{annName: res.Name, annContender: id, annShare: sharerec.Encode(sh, c.member)},
		},
		Spec: coordv1.LeaseSpec{HolderIdentity: &holder},
	}
	o := c.register(s, name, id)
	got, err := c.leases.Create(ctx, l, metav1.CreateOptions{})
	if err != nil {
		c.unregister(o)
		return nil, translate(err)
	}
	own, err := c.granted(o, got)
	if err != nil {
		return nil, err
	}
	mine := own.(*ownership).token
	withdraw := func(cause error) (tooz.Ownership, error) {
		cctx, cancel := driverkit.CleanupContext(ctx)
		defer cancel()
		if err := own.Release(cctx); err != nil && !errors.Is(err, tooz.ErrLockNotHeld) {
			c.log.Warn("tooz/kubernetes: withdrawing a contender failed; it goes with the session", "lease", name, "err", err)
		}
		return nil, cause
	}
	for {
		ahead, listed, until, err := c.ahead(ctx, q, mine)
		if err != nil {
			return withdraw(err)
		}
		shares := make([]tooz.Share, len(ahead))
		for i, a := range ahead {
			shares[i] = a.share
		}
		if err := sh.Agrees(shares); err != nil {
			return withdraw(err)
		}
		if sh.Holds(shares) {
			return own, nil
		}
		if !wait {
			return withdraw(fmt.Errorf("%w: kubernetes: %d contenders ahead", tooz.ErrNotAcquired, len(ahead)))
		}
		if o.Ended() {
			return withdraw(fmt.Errorf("%w: kubernetes: the contender ended while waiting", tooz.ErrSessionLost))
		}
		opts := metav1.ListOptions{LabelSelector: selector(labelNamespace, c.nsHash, labelQueue, q), ResourceVersion: listed}
		if err := c.waitWatch(ctx, opts, until, o.Lost()); err != nil {
			return withdraw(err)
		}
	}
}

// listQueue lists the live contenders of queue q, oldest first, with the
// listing's resourceVersion and the earliest deadline of their sessions.
// Contenders of expired sessions are left out (and reaped); entries that
// do not decode are left out with a log line.
func (c *conn) listQueue(ctx context.Context, q string) ([]contender, string, time.Time, error) {
	list, err := c.leases.List(ctx, metav1.ListOptions{LabelSelector: selector(labelNamespace, c.nsHash, labelQueue, q)})
	if err != nil {
		return nil, "", time.Time{}, translate(err)
	}
	var (
		out      []contender
		first    time.Time
		sessions []string
	)
	for i := range list.Items {
		l := &list.Items[i]
		rv, err := strconv.ParseUint(l.ResourceVersion, 10, 64)
		sh, member, derr := sharerec.Decode(l.Annotations[annShare])
		if err != nil || derr != nil {
			c.log.Warn("tooz/kubernetes: ignoring a contender lease that does not decode", "lease", l.Name, "err", errors.Join(err, derr))
			continue
		}
		sn := l.Labels[labelSession]
		sessions = append(sessions, sn)
		out = append(out, contender{rv: rv, share: sh, member: member, session: sn})
	}
	live, err := c.sessionDeadlines(ctx, sessions)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	kept := out[:0]
	for _, ct := range out {
		until, ok := live[ct.session]
		if !ok {
			continue
		}
		if first.IsZero() || until.Before(first) {
			first = until
		}
		kept = append(kept, ct)
	}
	out = kept
	sort.Slice(out, func(i, j int) bool { return out[i].rv < out[j].rv })
	return out, list.ResourceVersion, first, nil
}

// ahead returns the live contenders of q created before the contender at
// resourceVersion mine.
func (c *conn) ahead(ctx context.Context, q string, mine uint64) ([]contender, string, time.Time, error) {
	all, listed, until, err := c.listQueue(ctx, q)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	n := sort.Search(len(all), func(i int) bool { return all[i].rv >= mine })
	return all[:n], listed, until, nil
}

// Holders implements tooz.SharedAcquirer.
func (c *conn) Holders(ctx context.Context, res tooz.Resource) ([]string, error) {
	all, _, _, err := c.listQueue(ctx, c.queue(res))
	if err != nil {
		return nil, err
	}
	var (
		ahead []tooz.Share
		ids   []string
	)
	for _, ct := range all {
		if ct.share.Holds(ahead) {
			ids = append(ids, ct.member)
		}
		ahead = append(ahead, ct.share)
	}
	return ids, nil
}
