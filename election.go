package tooz

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Leadership is this member's leadership of a group, won by Campaign.
type Leadership struct {
	c         *Coordinator
	group     string
	h         *holding      // set before the leadership is published
	published chan struct{} // closed once ElectedAsLeader is queued
	stoodDown atomic.Bool
}

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
// leadership begins and ends.
func (c *Coordinator) Campaign(ctx context.Context, group string) (*Leadership, error) {
	const op = "campaign"
	if err := validate(op, group, c.member, "", group); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, wrap(err, op, group, c.member, "")
	}
	// The leadership is published (to StandDown and Close) only once its
	// holding is set, under c.mu; LeadershipLost waits until
	// ElectedAsLeader is queued, so the two never come out of order.
	l := &Leadership{c: c, group: group, published: make(chan struct{})}
	h, err := c.acquireHolding(ctx, true, func(err error) {
		<-l.published
		c.mu.Lock()
		delete(c.leaderships, l)
		c.mu.Unlock()
		c.emit(group, LeadershipLost{Group: group, Member: c.member, Err: err})
	}, func() (Ownership, error) { return c.drv.Acquire(ctx, electionOf(group), true) })
	if err != nil {
		return nil, wrap(err, op, group, c.member, "")
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
// candidate takes over. A candidacy made by WatchElectedAsLeader goes on
// campaigning after a short pause, so this member may lead again later. It
// returns an error wrapping ErrNotLeader when this member does not lead group.
func (c *Coordinator) StandDown(ctx context.Context, group string) error {
	const op = "stand down"
	if err := validate(op, group, c.member, "", group); err != nil {
		return err
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
	var first error
	for _, l := range ls {
		l.stoodDown.Store(true)
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
// campaigns again, so that a waiting candidate takes over even on backends
// whose waiters are not queued.
const standDownPause = 250 * time.Millisecond

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
		l, err := cd.c.Campaign(ctx, cd.group)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return
			}
			cd.c.log.Warn("tooz: campaign failed; retrying", "group", cd.group, "err", err)
			if !wait(ctx, retry) {
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
		if l.stoodDown.Load() && !wait(ctx, standDownPause) {
			return
		}
	}
}

// wait waits for d or ctx, reporting whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
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
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		_ = l.Resign(ctx)
	}
}

// Err reports why the leadership ended: nil while it lasts and after a
// Resign, StandDown or Close; an error wrapping ErrSessionLost when it was lost.
func (l *Leadership) Err() error { return l.h.reason() }
