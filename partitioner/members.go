// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/toozgo/tooz"
)

// startMembers follows the group through the coordinator's member stream
// (tooz.Coordinator.WatchMembers), whose events carry capabilities: joins
// and weight updates apply at once, with no read of their own. The ring is
// first built from a listing made after the join; the stream, registered
// after that listing, starts with a newer snapshot, so the ring never goes
// back in time.
func (p *Partitioner) startMembers(ctx context.Context) error {
	if err := p.joinGroup(ctx); err != nil {
		return err
	}
	infos, err := p.c.MembersInfo(ctx, p.group)
	if err != nil && !errors.Is(err, tooz.ErrGroupNotCreated) {
		return err
	}
	weights := make(map[string]int, len(infos))
	for _, m := range infos {
		weights[m.ID] = p.weightOf(m.ID, m.Capabilities)
	}
	p.publishNodes(weights)
	// Only the hook touches weights from here on; its calls are sequential.
	w, err := p.c.WatchMembers(ctx, p.group, func(e tooz.MembershipEvent) {
		switch e.Kind {
		case tooz.MembershipSnapshot:
			clear(weights)
			for _, m := range e.Members {
				weights[m.ID] = p.weightOf(m.ID, m.Capabilities)
			}
		case tooz.MembershipJoined, tooz.MembershipUpdated:
			weights[e.Member.ID] = p.weightOf(e.Member.ID, e.Member.Capabilities)
		case tooz.MembershipLeft:
			delete(weights, e.Member.ID)
		}
		if !p.stopped.Load() {
			p.publishNodes(weights)
		}
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.watches = append(p.watches, w)
	p.mu.Unlock()
	if p.cfg.onRebalance != nil {
		p.signal(p.changed) // the initial membership is a change
		go p.soakLoop()
	}
	return nil
}

// joinGroup joins the group unless WithoutJoin; a membership this
// coordinator already has is kept, with its capabilities.
func (p *Partitioner) joinGroup(ctx context.Context) error {
	if !p.cfg.join {
		return nil
	}
	err := p.c.JoinGroupCreate(ctx, p.group, Capabilities(p.cfg.weight))
	switch {
	case err == nil:
		p.joined = true
	case errors.Is(err, tooz.ErrMemberAlreadyJoined):
		p.log.Debug("partitioner: member already in the group; keeping its membership and capabilities")
	default:
		return err
	}
	return nil
}

// SetWeight changes this member's weight: it sets the "weight" field of the
// member's capabilities in the group (keeping the other fields of a JSON
// object), and every Partitioner following the group, this one included,
// applies it when the update event arrives — on drivers whose watch
// reports updates (tooz.MemberWatcher; otherwise it fails with
// tooz.ErrNotSupported, and a new weight needs a new Partitioner). It
// fails with ErrInvalidWeight for a weight out of range, and with
// tooz.ErrMemberNotJoined when the member is not in the group.
func (p *Partitioner) SetWeight(ctx context.Context, w int) error {
	if err := checkWeight(p.self, w); err != nil {
		return err
	}
	if _, ok := p.c.Driver().(tooz.MemberWatcher); !ok {
		return fmt.Errorf("partitioner: set weight: %w: the driver reports no capability updates", tooz.ErrNotSupported)
	}
	caps, err := p.c.MemberCapabilities(ctx, p.group, p.self)
	if err != nil {
		return fmt.Errorf("partitioner: set weight: %w", err)
	}
	return p.c.UpdateCapabilities(ctx, p.group, withWeight(caps, w))
}

// withWeight returns caps with its "weight" field set to w, when caps is a
// JSON object; otherwise Capabilities(w).
func withWeight(caps []byte, w int) []byte {
	var obj map[string]json.RawMessage
	if len(caps) == 0 || json.Unmarshal(caps, &obj) != nil || obj == nil {
		return Capabilities(w)
	}
	obj["weight"] = json.RawMessage(fmt.Appendf(nil, "%d", w))
	b, err := json.Marshal(obj)
	if err != nil {
		return Capabilities(w)
	}
	return b
}

// Assign returns the assignment of items under the current membership:
// each member with the items that belong to it (up to WithReplicas members
// per item), in the order given; duplicates count once. A member that was
// just elected leader calls it to hand out all the work at once, without
// waiting for the next membership change and its rebalance.
func (p *Partitioner) Assign(items []string) Assignment {
	return rebalance(nil, p.ring.snapshot(), items, p.replicas).New
}
