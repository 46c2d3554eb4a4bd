// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toozgo/tooz/internal/driverkit"
)

// Leadership is this member's leadership of a group, won by Campaign.
type Leadership struct {
	c         *Coordinator
	group     string
	h         *holding      // set before the leadership is published
	published chan struct{} // closed once ElectedAsLeader is queued
	stoodDown atomic.Bool
	handOver  atomic.Pointer[handOver] // set by a stand-down, before the release
	loop      atomic.Bool              // won by a candidacy or Lead, which campaigns again after it
	ctx       context.Context          // cancelled as the leadership ends
	cancel    context.CancelCauseFunc
}

// Context returns a context that is cancelled when the leadership ends,
// for handing to the work the leader does: its Done channel closes with
// Lost, and context.Cause reports the error Err returns for a loss, or
// ErrNotLeader after Resign, StandDown or Close. It carries no values and
// no deadline of its own.
func (l *Leadership) Context() context.Context { return l.ctx }

// Group returns the group led.
func (l *Leadership) Group() string { return l.group }

// Lost returns a channel closed when the leadership ends: on Resign,
// StandDown and Close, and when it is lost (liveness expired, revoked).
func (l *Leadership) Lost() <-chan struct{} { return l.h.lost }

// FencingToken is strictly greater than the token of every earlier leader
// of the group: pass it to the resources the leader writes so that they
// can refuse a deposed leader.
func (l *Leadership) FencingToken() uint64 { return l.h.token() }

// Resign gives the leadership up; another candidate may take it at once.
// It returns an error wrapping ErrNotLeader when the leadership had already ended.
func (l *Leadership) Resign(ctx context.Context) error {
	err := l.h.release(ctx)
	if errors.Is(err, ErrLockNotHeld) {
		err = ErrNotLeader
	}
	return wrap(err, "resign", l.group, l.c.member, "")
}

func electionOf(group string) Resource { return Resource{Kind: KindElection, Name: group} }

// Campaign waits until this member leads group or ctx ends (then the error
// wraps ErrNotAcquired). Membership of the group is not required. The
// ElectedAsLeader and LeadershipLost hooks of the group are called as the
// leadership begins and ends. While a hold-off set by StandDown lasts,
// Campaign waits for it to pass before it contends. It fails at once with
// an error wrapping ErrAlreadyLeader when this coordinator already leads
// group (a second leadership of one member could only wait for the first).
// With Priority (and Preempt) it is a ranked campaign: see Priority.
func (c *Coordinator) Campaign(ctx context.Context, group string, opts ...CampaignOption) (*Leadership, error) {
	return c.campaign(ctx, "campaign", group, true, opts)
}

// TryCampaign is Campaign without waiting: when another member leads group,
// a hold-off set by StandDown still lasts, or (with Priority) a candidate
// of higher priority is registered, it fails at once with an error
// wrapping ErrNotAcquired.
func (c *Coordinator) TryCampaign(ctx context.Context, group string, opts ...CampaignOption) (*Leadership, error) {
	return c.campaign(ctx, "try campaign", group, false, opts)
}

func (c *Coordinator) campaign(ctx context.Context, op, group string, wait bool, opts []CampaignOption) (*Leadership, error) {
	if err := validate(op, group, c.member, "", group); err != nil {
		return nil, err
	}
	var o campaignOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.priority < 0 || o.priority > MaxPriority {
		return nil, wrap(fmt.Errorf("%w: %d (want 0 to %d)", ErrInvalidPriority, o.priority, MaxPriority), op, group, c.member, "")
	}
	if err := c.check(); err != nil {
		return nil, wrap(err, op, group, c.member, "")
	}
	if c.leading(group) != nil {
		return nil, wrap(ErrAlreadyLeader, op, group, c.member, "")
	}
	if err := c.awaitHoldOff(ctx, group, wait); err != nil {
		return nil, wrap(err, op, group, c.member, "")
	}
	var (
		l   *Leadership
		err error
	)
	if o.ranked {
		l, err = c.rankedCampaign(ctx, group, wait, o)
	} else {
		l, err = c.elect(ctx, group, wait, o.loop, nil)
	}
	return l, wrap(err, op, group, c.member, "")
}

// elect contends for group's leadership. vet, if set, may refuse a grant
// before anyone is told of it: the grant is given back and elect fails
// with vet's error.
func (c *Coordinator) elect(ctx context.Context, group string, wait, loop bool, vet func() error) (*Leadership, error) {
	// The leadership is published (to StandDown and Close) only once its
	// holding is set, under c.mu; LeadershipLost waits until
	// ElectedAsLeader is queued, so the two never come out of order.
	l := &Leadership{c: c, group: group, published: make(chan struct{})}
	l.loop.Store(loop) // before anyone can stand it down
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	h, err := c.acquireHolding(ctx, electionOf(group), wait, func(err error) {
		cause := err
		if cause == nil {
			cause = ErrNotLeader
		}
		l.cancel(cause)
		<-l.published
		c.mu.Lock()
		delete(c.leaderships, l)
		c.mu.Unlock()
		c.emit(group, LeadershipLost{Group: group, Member: c.member, Err: err})
	}, func(ctx context.Context) (Ownership, error) {
		own, err := c.drv.Acquire(ctx, electionOf(group), wait)
		if err != nil || vet == nil {
			return own, err
		}
		if err := vet(); err != nil {
			cctx, cancel := cleanupContext(context.Background())
			defer cancel()
			if rerr := own.Release(cctx); rerr != nil && !errors.Is(rerr, ErrLockNotHeld) {
				c.retryRelease(own, rerr)
			}
			return nil, err
		}
		return own, nil
	})
	if err != nil {
		l.cancel(ErrNotLeader)
		return nil, err
	}
	c.mu.Lock()
	l.h = h
	if !isClosed(h.lost) {
		c.leaderships[l] = struct{}{}
	}
	c.mu.Unlock()
	c.emit(group, ElectedAsLeader{Group: group, Member: c.member, FencingToken: h.own.FencingToken()})
	close(l.published)
	return l, nil
}

// leading returns this coordinator's current leadership of group, or nil.
func (c *Coordinator) leading(group string) *Leadership {
	c.mu.Lock()
	defer c.mu.Unlock()
	for l := range c.leaderships {
		if l.group == group && !isClosed(l.h.lost) {
			return l
		}
	}
	return nil
}

// MaxHoldOff is the longest hold-off StandDown accepts.
const MaxHoldOff = 24 * time.Hour

// StandDownOption configures StandDown.
type StandDownOption func(*standDown)

type standDown struct{ holdOff time.Duration }

// HoldOff makes the member that stands down keep out of group's elections
// for d, as Hyperledger Fabric's leader Yield does: neither its candidacy
// (WatchElectedAsLeader, Lead) nor a Campaign call contends again until d
// has passed, even when no other candidate is there. d must be between 0
// and MaxHoldOff; StandDown rejects anything else with ErrInvalidHoldOff
// before it gives anything up.
func HoldOff(d time.Duration) StandDownOption {
	return func(o *standDown) { o.holdOff = d }
}

// awaitHoldOff waits until this member's hold-off of group has passed
// (or fails with ErrNotAcquired at once when it may not wait).
func (c *Coordinator) awaitHoldOff(ctx context.Context, group string, wait bool) error {
	for {
		c.mu.Lock()
		until, ok := c.holdOffs[group]
		d := time.Until(until)
		if ok && d <= 0 {
			delete(c.holdOffs, group)
		}
		c.mu.Unlock()
		if !ok || d <= 0 {
			return nil
		}
		if !wait {
			return fmt.Errorf("%w: holding off campaigns for another %v", ErrNotAcquired, d.Round(time.Millisecond))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return notAcquired(ctx, ctx.Err())
		case <-c.closing:
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
	}
}

// Leader returns the member ID of group's leader, or an error wrapping
// ErrNoLeader when the group has none.
func (c *Coordinator) Leader(ctx context.Context, group string) (string, error) {
	const op = "leader"
	if err := validate(op, group, "", "", group); err != nil {
		return "", err
	}
	if err := c.check(); err != nil {
		return "", wrap(err, op, group, "", "")
	}
	id, err := c.drv.Owner(ctx, electionOf(group))
	return id, wrap(err, op, group, "", "")
}

// StandDown gives up this member's leadership of group so that another
// candidate takes over. A candidacy made by WatchElectedAsLeader or Lead
// goes on campaigning, but only once another member has led (or nobody
// has for a whole liveness timeout: no other candidate was waiting), so a
// waiting candidate always takes over, and this member may lead again
// after it; with
// HoldOff(d) it (and any Campaign of this coordinator) keeps out of the
// group's elections for d. It returns an error wrapping ErrNotLeader when
// this member does not lead group (and then sets no hold-off).
func (c *Coordinator) StandDown(ctx context.Context, group string, opts ...StandDownOption) error {
	const op = "stand down"
	if err := validate(op, group, c.member, "", group); err != nil {
		return err
	}
	var o standDown
	for _, opt := range opts {
		opt(&o)
	}
	if o.holdOff < 0 || o.holdOff > MaxHoldOff {
		return wrap(fmt.Errorf("%w: %v (want 0 to %v)", ErrInvalidHoldOff, o.holdOff, MaxHoldOff), op, group, c.member, "")
	}
	if err := c.check(); err != nil {
		return wrap(err, op, group, c.member, "")
	}
	c.mu.Lock()
	var ls []*Leadership
	for l := range c.leaderships {
		if l.group == group && !isClosed(l.h.lost) {
			ls = append(ls, l)
		}
	}
	c.mu.Unlock()
	if len(ls) == 0 {
		return wrap(ErrNotLeader, op, group, c.member, "")
	}
	if o.holdOff > 0 {
		// Set before the release, so that the candidacy sees it as soon
		// as the leadership ends.
		c.mu.Lock()
		c.holdOffs[group] = time.Now().Add(o.holdOff)
		c.mu.Unlock()
	}
	var first error
	for _, l := range ls {
		l.standDown(ctx)
		if err := l.h.release(ctx); err != nil && first == nil && !errors.Is(err, ErrLockNotHeld) {
			first = err
		}
	}
	return wrap(first, op, group, c.member, "")
}

// WatchElectedAsLeader calls fn whenever this member becomes group's leader
// and, as in OpenStack tooz, makes this member a candidate: it campaigns in
// the background, again after every loss or StandDown, until the last such
// hook of the group is stopped (which resigns) or the coordinator closes.
func (c *Coordinator) WatchElectedAsLeader(ctx context.Context, group string, fn func(ElectedAsLeader)) (*Watch, error) {
	w, err := c.watch(ctx, "watch elected", group, hookElected, func(e any) { fn(e.(ElectedAsLeader)) })
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	cd := c.candidacies[group]
	if cd == nil {
		cd = c.newCandidacy(group)
		c.candidacies[group] = cd
	}
	cd.refs++
	c.mu.Unlock()
	return &Watch{stop: func() {
		w.Stop()
		c.mu.Lock()
		cd.refs--
		last := cd.refs == 0 && c.candidacies[group] == cd
		if last {
			delete(c.candidacies, group)
		}
		c.mu.Unlock()
		if last {
			go cd.resign()
		}
	}}, nil
}

// standDownPause is how long a candidacy waits after StandDown before it
// campaigns again on a driver that cannot push leader changes (no
// OwnerWatcher), where awaitHandOver cannot tell when another took over.
const standDownPause = 250 * time.Millisecond

// handOver follows an election from just before its leader stood down,
// so that the candidacy of the member that stood down can tell when
// another member has acted on it (see awaitHandOver).
type handOver struct {
	pushes atomic.Int32 // changes the driver pushed since the watch began
	ch     chan struct{}
	stop   func()
}

// standDown marks l stood down and starts following its election, before
// the caller releases it.
func (l *Leadership) standDown(ctx context.Context) {
	l.stoodDown.Store(true)
	ow, ok := l.c.drv.(OwnerWatcher)
	if !ok || !l.loop.Load() {
		return
	}
	ho := &handOver{ch: make(chan struct{}, 1)}
	stop, err := ow.WatchOwner(ctx, electionOf(l.group), func(OwnerChange) {
		ho.pushes.Add(1)
		select {
		case ho.ch <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return
	}
	ho.stop = sync.OnceFunc(stop)
	l.handOver.Store(ho)
	// The loop ends it once it has waited (awaitHandOver); should the loop
	// end first (its hook stopped, the coordinator closing), it ends later.
	time.AfterFunc(2*l.c.timeout, ho.stop)
}

// awaitHandOver is what a candidacy (WatchElectedAsLeader, Lead) does
// after its member stood down, before it campaigns again: it waits until
// another member leads group, or has acted on the election since the
// stand-down began (two changes pushed: the release, then another's grant,
// even one too short to read), or nothing happened for a whole liveness
// timeout (no other candidate was waiting). A candidate that was waiting
// therefore takes over first, whatever order the backend serves its
// waiters in: the member that stood down does not contend until then.
// Counting relies on the driver pushing once per change (see
// OwnerWatcher): where one push of the backend can cover several changes
// without saying so (Consul's blocking queries), another's leadership
// shorter than a push can go unseen, and the wait lasts the timeout. It
// reports false when ctx ends or the coordinator closes.
func (c *Coordinator) awaitHandOver(ctx context.Context, l *Leadership) bool {
	ho := l.handOver.Load()
	if ho == nil {
		// Stood down before the loop had marked its leadership, or the
		// driver cannot push changes: follow the election from now.
		ho = &handOver{ch: make(chan struct{}, 1), stop: func() {}}
		if ow, ok := c.drv.(OwnerWatcher); ok {
			if stop, err := ow.WatchOwner(ctx, electionOf(l.group), func(OwnerChange) {
				ho.pushes.Add(2) // the release was before: one change is another's
				select {
				case ho.ch <- struct{}{}:
				default:
				}
			}); err == nil {
				ho.stop = stop
			}
		} else {
			return driverkit.Sleep(ctx, standDownPause)
		}
	}
	defer ho.stop()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	for {
		if ho.pushes.Load() >= 2 {
			return true
		}
		if id, err := c.drv.Owner(ctx, electionOf(l.group)); err == nil && id != c.member {
			return true
		}
		select {
		case <-ho.ch:
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		case <-c.closing:
			return false
		}
	}
}

// candidacy campaigns for a group in the background on behalf of the
// WatchElectedAsLeader hooks.
type candidacy struct {
	c      *Coordinator
	group  string
	refs   int // guarded by c.mu
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	lead *Leadership
}

func (c *Coordinator) newCandidacy(group string) *candidacy {
	ctx, cancel := context.WithCancel(context.Background())
	cd := &candidacy{c: c, group: group, cancel: cancel, done: make(chan struct{})}
	go cd.run(ctx)
	return cd
}

func (cd *candidacy) run(ctx context.Context) {
	defer close(cd.done)
	retry := min(max(cd.c.timeout/10, minRetry), maxRetry)
	for ctx.Err() == nil {
		l, err := cd.c.Campaign(ctx, cd.group, asLoop)
		if errors.Is(err, ErrAlreadyLeader) {
			// This member leads through a Campaign of its own: the
			// candidacy takes over once that leadership ends.
			if other := cd.c.leading(cd.group); other != nil {
				select {
				case <-ctx.Done():
					return
				case <-other.Lost():
				}
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return
			}
			cd.c.log.Warn("tooz: campaign failed; retrying", "group", cd.group, "err", err)
			if !driverkit.Sleep(ctx, retry) {
				return
			}
			continue
		}
		cd.mu.Lock()
		cd.lead = l
		cd.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-l.Lost():
		}
		cd.mu.Lock()
		cd.lead = nil
		cd.mu.Unlock()
		if l.stoodDown.Load() && !cd.c.awaitHandOver(ctx, l) {
			return
		}
	}
}

// stop ends the campaign without resigning (Close and Abandon deal with the ownership).
func (cd *candidacy) stop() {
	cd.cancel()
	<-cd.done
}

// resign ends the campaign and gives up a leadership it won.
func (cd *candidacy) resign() {
	cd.stop()
	cd.mu.Lock()
	l := cd.lead
	cd.mu.Unlock()
	if l != nil {
		ctx, cancel := cleanupContext(context.Background())
		defer cancel()
		_ = l.Resign(ctx)
	}
}

// Err reports why the leadership ended: nil while it lasts and after a
// Resign, StandDown or Close; an error wrapping ErrSessionLost when it was lost.
func (l *Leadership) Err() error { return l.h.reason() }

// Lead campaigns for group and runs fn while this member leads it, in the
// spirit of client-go's leaderelection.RunOrDie: fn's context is cancelled
// as soon as the leadership ends (lost, StandDown, Close) or ctx ends.
// When the leadership ends while fn runs, Lead waits for fn to return and
// campaigns again; when fn returns while this member still leads, Lead
// resigns and returns fn's error. Lead returns nil once ctx ends (after
// fn has returned and the leadership is given up), and an error wrapping
// ErrClosed when the coordinator closes. Campaign errors other than those
// are logged and retried after a pause. opts apply to every campaign: with
// Priority and Preempt, a preempted leader's fn is cancelled and Lead
// campaigns again at its priority.
func (c *Coordinator) Lead(ctx context.Context, group string, fn func(ctx context.Context) error, opts ...CampaignOption) error {
	const op = "lead"
	if err := validate(op, group, c.member, "", group); err != nil {
		return err
	}
	if fn == nil {
		return wrap(errNilFunc, op, group, c.member, "")
	}
	retry := min(max(c.timeout/10, minRetry), maxRetry)
	for {
		l, err := c.Campaign(ctx, group, append(opts[:len(opts):len(opts)], asLoop)...)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrClosed), errors.Is(err, ErrAlreadyLeader):
			return err
		default:
			c.log.Warn("tooz: campaign failed; retrying", "group", group, "err", err)
			if !driverkit.Sleep(ctx, retry) {
				return nil
			}
			continue
		}
		lctx, cancel := context.WithCancelCause(ctx)
		stop := context.AfterFunc(l.Context(), func() { cancel(context.Cause(l.Context())) })
		ferr := fn(lctx)
		stop()
		cancel(nil)
		if isClosed(l.Lost()) {
			if ctx.Err() != nil {
				return nil
			}
			if err := c.check(); err != nil {
				return wrap(err, op, group, c.member, "")
			}
			if ferr != nil && !errors.Is(ferr, context.Canceled) {
				c.log.Warn("tooz: leader's work failed as the leadership ended; campaigning again", "group", group, "err", ferr)
			}
			if l.stoodDown.Load() && !c.awaitHandOver(ctx, l) {
				if ctx.Err() != nil {
					return nil
				}
				return wrap(ErrClosed, op, group, c.member, "")
			}
			continue
		}
		rctx, rcancel := cleanupContext(context.Background())
		if err := l.Resign(rctx); err != nil && !errors.Is(err, ErrNotLeader) {
			c.log.Warn("tooz: resign failed", "group", group, "err", err)
		}
		rcancel()
		if ctx.Err() != nil {
			return nil
		}
		return ferr
	}
}

// errNilFunc reports a nil function given to Lead.
var errNilFunc = errors.New("nil function")
