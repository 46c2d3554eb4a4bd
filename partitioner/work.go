// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package partitioner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/toozgo/tooz"
)

// WithWorkPrefix takes the work items of WithRebalance from the
// coordinator's key/value namespace: every key that begins with prefix is
// an item, named by the rest of the key (its value is the application's).
// The keys are followed with a watch, so that a rebalance runs, after the
// soak period, when items are added or removed, as when members change.
// It replaces WithRebalance's items function, which must then be nil.
func WithWorkPrefix(prefix string) Option {
	return func(c *config) { c.workPrefix = &prefix }
}

// WithAssignmentKey keeps the settled assignment in the coordinator's
// key/value namespace under key, as JSON (member: items). The first
// rebalance of a Partitioner starts from the stored assignment, so that a
// member that takes over the rebalancing (a newly elected leader) is told
// only of the items whose owner really changes, and every rebalance
// stores its New assignment, once the rebalance function has returned,
// with a compare-and-swap on the revision it read (a writer that lost the
// race reads again before its next write). A rebalancer that stops or
// dies before its function returns leaves the previous assignment stored:
// the next one is then told of those moves again.
func WithAssignmentKey(key string) Option {
	return func(c *config) { c.storeKey = key }
}

// checkWork checks the options of this file.
func (c *config) checkWork() error {
	if c.workPrefix != nil {
		if err := tooz.ValidatePrefix(*c.workPrefix); err != nil {
			return errors.Join(errors.New("partitioner: WithWorkPrefix"), err)
		}
		if c.onRebalance == nil {
			return errors.New("partitioner: WithWorkPrefix needs WithRebalance")
		}
		if c.items != nil {
			return errors.New("partitioner: WithWorkPrefix and an items function for WithRebalance: choose one")
		}
	}
	if c.storeKey != "" {
		if err := tooz.ValidateID(c.storeKey); err != nil {
			return errors.Join(errors.New("partitioner: WithAssignmentKey"), err)
		}
		if c.onRebalance == nil {
			return errors.New("partitioner: WithAssignmentKey needs WithRebalance")
		}
	}
	return nil
}

// ItemsChanged tells the Partitioner that the items function of
// WithRebalance would now return another set: a rebalance follows after
// the soak period (none if the set turns out unchanged). Items taken from
// WithWorkPrefix need no call.
func (p *Partitioner) ItemsChanged() {
	if p.cfg.onRebalance != nil {
		p.signal(p.changed)
	}
}

// watchWork starts following the work prefix, if there is one: the
// listing is in place before New returns.
func (p *Partitioner) watchWork(ctx context.Context) error {
	if p.cfg.workPrefix == nil {
		return nil
	}
	prefix := *p.cfg.workPrefix
	p.work = map[string]struct{}{}
	w, err := p.c.KV().Watch(ctx, prefix, func(e tooz.KeyEvent) {
		p.mu.Lock()
		changed := false
		switch e.Kind {
		case tooz.KeysListed:
			p.work = make(map[string]struct{}, len(e.Keys))
			for _, kv := range e.Keys {
				p.work[strings.TrimPrefix(kv.Key, prefix)] = struct{}{}
			}
			changed = true
		case tooz.KeyPut:
			it := strings.TrimPrefix(e.Key, prefix)
			if _, ok := p.work[it]; !ok {
				p.work[it] = struct{}{}
				changed = true
			}
		case tooz.KeyDeleted:
			it := strings.TrimPrefix(e.Key, prefix)
			if _, ok := p.work[it]; ok {
				delete(p.work, it)
				changed = true
			}
		}
		p.mu.Unlock()
		if changed {
			p.signal(p.changed)
		}
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.watches = append(p.watches, w)
	p.mu.Unlock()
	return nil
}

// currentItems returns the work items: the watched keys, sorted, or what
// the items function returns.
func (p *Partitioner) currentItems() []string {
	if p.cfg.workPrefix != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		return slices.Sorted(maps.Keys(p.work))
	}
	if p.cfg.items != nil {
		return p.cfg.items()
	}
	return nil
}

// storeTimeout bounds each read and write of the stored assignment.
const storeTimeout = 10 * time.Second

// loadAssignment reads the stored assignment (nil when there is none or
// it cannot be read) and remembers its revision for the next store.
func (p *Partitioner) loadAssignment() Assignment {
	ctx, cancel := context.WithTimeout(p.ctx, storeTimeout)
	defer cancel()
	kv, err := p.c.KV().Get(ctx, p.cfg.storeKey)
	switch {
	case errors.Is(err, tooz.ErrKeyNotFound):
		p.storeRev, p.stored = 0, nil
		return nil
	case err != nil:
		p.log.Warn("partitioner: cannot read the stored assignment; starting from none", "key", p.cfg.storeKey, "err", err)
		return nil
	}
	p.storeRev, p.stored = kv.Revision, kv.Value
	var a Assignment
	if err := json.Unmarshal(kv.Value, &a); err != nil {
		p.log.Warn("partitioner: ignoring a stored assignment that does not decode", "key", p.cfg.storeKey, "err", err)
		return nil
	}
	return a
}

// storeAssignment stores a, unless what this Partitioner last read or
// wrote is a already. A Stop meanwhile does not cut it short: the
// rebalance it records was made.
func (p *Partitioner) storeAssignment(a Assignment) {
	b, err := json.Marshal(a)
	if err != nil {
		p.log.Warn("partitioner: cannot encode the assignment", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), storeTimeout)
	defer cancel()
	if p.storeRev != 0 && bytes.Equal(b, p.stored) {
		return
	}
	kv := p.c.KV()
	rev, err := kv.Put(ctx, p.cfg.storeKey, b, tooz.IfRevision(p.storeRev))
	switch {
	case err == nil:
		p.storeRev, p.stored = rev, b
	case errors.Is(err, tooz.ErrConflict):
		// Another member stored one meanwhile: take its revision, so that
		// the next store replaces what is there now.
		if cur, err := kv.Get(ctx, p.cfg.storeKey); err == nil {
			p.storeRev, p.stored = cur.Revision, cur.Value
		} else if errors.Is(err, tooz.ErrKeyNotFound) {
			p.storeRev, p.stored = 0, nil
		}
		p.log.Info("partitioner: another member stored the assignment first", "key", p.cfg.storeKey)
	default:
		p.log.Warn("partitioner: cannot store the assignment", "key", p.cfg.storeKey, "err", err)
	}
}
