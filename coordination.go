// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package tooz lets a fleet of processes coordinate — group membership,
// leader election, distributed locks — through etcd, Consul, ZooKeeper,
// Redis, a shared directory or process memory, chosen by a URL, with the
// same semantics on every backend.
//
// Applications use the portable Coordinator returned by Open. Backends
// implement the narrow CoordinationDriver contract and register a URL
// scheme with Register; the conformance package proves that a driver keeps
// the contract.
package tooz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/toozgo/tooz/internal/driverkit"
)

// MaxIDLength is the longest group, member or lock name, in bytes. Every
// non-empty valid UTF-8 string up to this length round-trips byte for byte
// on every driver.
const MaxIDLength = 255

// MaxCapabilitiesLength is the largest capabilities value, in bytes, that
// every driver stores.
const MaxCapabilitiesLength = 256 << 10

// ValidateID reports whether id is a valid group, member or lock name:
// non-empty, valid UTF-8, at most MaxIDLength bytes. The error wraps ErrInvalidID.
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidID)
	case len(id) > MaxIDLength:
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidID, len(id), MaxIDLength)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidID, id)
	}
	return nil
}

// MemberInfo describes one member of a group.
type MemberInfo struct {
	ID           string    // the member ID
	Capabilities []byte    // as given to JoinGroup or UpdateCapabilities
	JoinedAt     time.Time // when the member joined (backend or joining client clock)
	UpdatedAt    time.Time // when the capabilities were last set
	// Incarnation identifies the coordinator session that wrote the
	// membership (etcd lease, Consul or ZooKeeper session, the Redis or
	// file driver's session ID): a member restarted with the same ID has
	// a new one. Opaque; empty where the driver does not report it.
	Incarnation string
}

// ResourceKind says what a Resource is for.
type ResourceKind int

// The kinds of Resource.
const (
	KindLock     ResourceKind = iota + 1 // a lock taken with Coordinator.Lock
	KindElection                         // a group's leadership
)

func (k ResourceKind) String() string {
	switch k {
	case KindLock:
		return "lock"
	case KindElection:
		return "election"
	case KindSemaphore:
		return "semaphore"
	case KindRWLock:
		return "read/write lock"
	}
	return fmt.Sprintf("ResourceKind(%d)", int(k))
}

// Resource names something that one contender at a time may own: a lock or
// the leadership of a group. Locks and elections live in separate key spaces:
// a lock named "x" and the leadership of group "x" are unrelated.
type Resource struct {
	Kind ResourceKind
	Name string
	// TTL is the ownership's own time to live where the driver keeps one
	// apart from the coordinator's liveness; zero means the liveness timeout.
	TTL time.Duration
}

// Ownership is a driver's record of one successful Acquire.
type Ownership interface {
	// FencingToken is strictly greater than the token of every earlier
	// owner of the same Resource.
	FencingToken() uint64
	// Lost is closed when the ownership ends: on Release, when the
	// coordinator's liveness expired, when the backend revoked it, or when
	// the driver can no longer prove it holds it.
	Lost() <-chan struct{}
	// Release gives the ownership up at once. It returns an error wrapping
	// ErrLockNotHeld when the backend no longer records this owner.
	Release(ctx context.Context) error
}

// LostNotifier is implemented by an Ownership that can run a function
// when it ends, as context.AfterFunc does: OnLost arranges for f to run
// once, on a goroutine of its own, when Lost closes (at once if it has),
// and returns a function that cancels that, reporting whether it did. The
// Coordinator then follows the ownership without a goroutine per holding;
// without it the Coordinator waits on Lost from a goroutine of its own.
type LostNotifier interface {
	OnLost(f func()) (stop func() bool)
}

// GroupSink receives a driver's view of one group's membership. The driver
// calls it from one goroutine at a time, in the order the backend changed.
// Its methods return quickly and never call back into the driver.
type GroupSink interface {
	// Reset reports the complete member list: once before WatchGroup
	// returns, and again whenever the driver lost track of changes
	// (compaction, reconnect) and had to list the group anew. The
	// Coordinator turns the difference into join and leave events.
	Reset(members []string)
	// Joined reports a member that joined after the last listing.
	Joined(member string)
	// Left reports a member that left or expired after the last listing.
	Left(member string)
}

// CoordinationDriver is the contract a backend implements. A driver does
// only backend I/O and translates backend errors into the sentinel errors;
// validation, closed-state checks, event dispatch, the heart and error
// context are the Coordinator's. Every method honours its context. Optional
// features are separate interfaces, checked with a type assertion.
//
// Calls may race Close. The Coordinator refuses new calls once Close has
// begun, but it does not wait for calls already running (an Acquire may be
// waiting for a lock): Close must make those end promptly, with ErrClosed
// or with their own result, and a driver must stay safe (no panic, no
// write to a closed client) when a call finds it closed. An Ownership or
// a watch issued by such a call is ended by Close like any other.
type CoordinationDriver interface {
	// Characteristics lists what the backend guarantees.
	Characteristics() []Characteristic
	// Heartbeat renews this coordinator's liveness and returns how long to
	// wait before the next call. When the driver finds its liveness expired,
	// it ends every Ownership issued under it (closing their Lost channels),
	// establishes a new one if it can, and returns an error wrapping
	// ErrSessionLost; the Coordinator then re-joins its groups.
	Heartbeat(ctx context.Context) (time.Duration, error)
	// Close ends this coordinator's liveness at once, so that its
	// memberships and ownerships vanish without waiting for a timeout,
	// ends every Ownership, and closes connections.
	Close(ctx context.Context) error

	// CreateGroup creates a group, or fails with ErrGroupAlreadyExists.
	CreateGroup(ctx context.Context, group string) error
	// DeleteGroup deletes an empty group, or fails with ErrGroupNotCreated or ErrGroupNotEmpty.
	DeleteGroup(ctx context.Context, group string) error
	// Groups lists every group.
	Groups(ctx context.Context) ([]string, error)
	// JoinGroup makes this coordinator's member a member of group, tied to
	// its liveness; it fails with ErrGroupNotCreated or ErrMemberAlreadyJoined.
	JoinGroup(ctx context.Context, group string, capabilities []byte) error
	// LeaveGroup removes this coordinator's member from group; it fails with
	// ErrGroupNotCreated or ErrMemberNotJoined.
	LeaveGroup(ctx context.Context, group string) error
	// Members lists the group's members with their information, in one
	// round trip where the backend allows; it fails with ErrGroupNotCreated.
	Members(ctx context.Context, group string) ([]MemberInfo, error)
	// MemberInfo describes one member; it fails with ErrGroupNotCreated or ErrMemberNotJoined.
	MemberInfo(ctx context.Context, group, member string) (MemberInfo, error)
	// UpdateCapabilities replaces this member's capabilities in group; it
	// fails with ErrGroupNotCreated or ErrMemberNotJoined.
	UpdateCapabilities(ctx context.Context, group string, capabilities []byte) error
	// WatchGroup starts following group's membership through the backend's
	// native change notification (not polling). It calls sink.Reset with a
	// listing before it returns (an empty one for a group that does not
	// exist), then reports every change after that listing. The returned
	// stop function ends the watch; after it returns the sink is not called.
	WatchGroup(ctx context.Context, group string, sink GroupSink) (stop func(), err error)

	// Acquire makes this coordinator a contender for res. Every call is a
	// separate contender: two calls on one coordinator exclude each other.
	// With wait false it fails with ErrNotAcquired at once when another
	// contender owns res; with wait true it waits until it owns res or ctx
	// ends (then it returns ctx's error, having withdrawn). The ownership is
	// tied to the coordinator's liveness and records the member ID as owner.
	Acquire(ctx context.Context, res Resource, wait bool) (Ownership, error)
	// Owner returns the member ID that owns res, or fails with ErrNoLeader
	// when nobody does.
	Owner(ctx context.Context, res Resource) (string, error)
}

// Abandoner is implemented by drivers that can simulate a crash: Abandon
// stops all background work and drops connections without ending the
// liveness, leaving groups or releasing anything, as a killed process would.
type Abandoner interface {
	Abandon()
}

// Option configures Open.
type Option func(*options)

type options struct {
	timeout   time.Duration
	namespace string
	noHeart   bool
	explicit  bool
	require   []Characteristic
	logger    *slog.Logger
	observer  Observer
}

// WithTimeout sets the member liveness timeout, overriding the URL's "timeout".
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithNamespace sets the key prefix, overriding the URL's "namespace".
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithoutHeart opens the coordinator without its heart goroutine: the
// caller must call Heartbeat at least once per timeout to stay alive. A
// coordinator that stops beating loses its memberships, locks and
// leaderships after the timeout on every backend (where the backend would
// keep the session alive by itself, the coordinator ends it: see
// SessionEnder); the next Heartbeat opens a new session and re-joins.
func WithoutHeart() Option { return func(o *options) { o.noHeart = true } }

// WithExplicitWatchers delivers events only inside RunWatchers, on the
// caller's goroutine, as OpenStack tooz's run_watchers does. Without it,
// events are delivered on a goroutine per group as they arrive.
func WithExplicitWatchers() Option { return func(o *options) { o.explicit = true } }

// WithLogger sends the coordinator's and driver's log lines to l (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Coordinator is a member's connection to a coordination backend: the
// portable type applications use. Its methods are safe for concurrent use.
type Coordinator struct {
	drv      CoordinationDriver
	member   string
	scheme   string
	url      string // redacted
	timeout  time.Duration
	log      *slog.Logger
	chars    []Characteristic
	explicit bool
	noHeart  bool

	live  *liveness
	heart *heart
	stats stats
	obs   Observer // never nil

	mu          sync.Mutex
	closed      bool
	joined      map[string][]byte // groups this member joined, with capabilities
	rejoin      bool              // a re-join after a lost session is still to do
	hubs        map[string]*hub
	keyWatches  map[*keyWatch]struct{}
	holdings    map[*holding]struct{}
	leaderships map[*Leadership]struct{}
	candidacies map[string]*candidacy
	holdOffs    map[string]time.Time     // groups this member does not campaign for until then
	ranked      map[string]chan struct{} // groups with a ranked campaign running; closed when it ends
	closing     chan struct{}            // closed as the coordinator closes or is abandoned
	wg          sync.WaitGroup           // background goroutines owned by the coordinator
}

// Open connects to the backend named by rawURL as member memberID.
// rawURL is scheme://[user:password@]host[:port][,host...][/path][?options].
// Unknown options, a bad memberID and a missing required characteristic are
// reported before any I/O where possible; a password never appears in errors.
func Open(ctx context.Context, rawURL, memberID string, opts ...Option) (*Coordinator, error) {
	return open(ctx, nil, rawURL, memberID, opts)
}

// OpenDriver is Open with the driver given instead of looked up by the
// URL's scheme: driver packages use it to offer an Open that takes the
// application's own, already configured client (as gocloud.dev's openers
// do). rawURL still carries the options (timeout, namespace, the driver's
// own); its scheme names the backend in errors and logs, and its hosts are
// the driver's to use or ignore.
func OpenDriver(ctx context.Context, d Driver, rawURL, memberID string, opts ...Option) (*Coordinator, error) {
	if d == nil {
		return nil, wrap(fmt.Errorf("%w: nil driver", ErrUnknownDriver), "open", "", memberID, "")
	}
	return open(ctx, d, rawURL, memberID, opts)
}

func open(ctx context.Context, given Driver, rawURL, memberID string, opts []Option) (*Coordinator, error) {
	start := time.Now() // the liveness made by Open cannot end before start+timeout
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if err := ValidateID(memberID); err != nil {
		return nil, wrap(err, "open", "", memberID, "")
	}
	d, cfg, err := parseURL(rawURL, &o, given)
	if err != nil {
		return nil, wrap(err, "open", "", memberID, "")
	}
	cfg.MemberID = memberID
	cfg.Logger = o.logger.With("tooz.scheme", cfg.URL.Scheme, "tooz.member", memberID)
	drv, err := d.Open(ctx, cfg)
	if err != nil {
		return nil, wrap(fmt.Errorf("%s: %w", cfg.Redacted(), err), "open", "", memberID, "")
	}
	c := &Coordinator{
		drv:         drv,
		member:      memberID,
		scheme:      cfg.URL.Scheme,
		url:         cfg.Redacted(),
		timeout:     cfg.Timeout,
		log:         cfg.Logger,
		chars:       slices.Clone(drv.Characteristics()),
		explicit:    o.explicit,
		noHeart:     o.noHeart,
		joined:      map[string][]byte{},
		hubs:        map[string]*hub{},
		keyWatches:  map[*keyWatch]struct{}{},
		holdings:    map[*holding]struct{}{},
		leaderships: map[*Leadership]struct{}{},
		candidacies: map[string]*candidacy{},
		holdOffs:    map[string]time.Time{},
		ranked:      map[string]chan struct{}{},
		closing:     make(chan struct{}),
		obs:         o.observer,
	}
	if c.obs == nil {
		c.obs = noObserver{}
	}
	if err := checkRequired(c.chars, o.require); err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = drv.Close(cctx)
		return nil, wrap(fmt.Errorf("%s: %w", c.scheme, err), "open", "", memberID, "")
	}
	c.live = newLiveness(start, c.timeout, c.log, c.livenessExpired)
	if !o.noHeart {
		c.heart = startHeart(c)
	}
	return c, nil
}

// MemberID returns this coordinator's member ID.
func (c *Coordinator) MemberID() string { return c.member }

// URL returns the URL the coordinator was opened with, password masked.
func (c *Coordinator) URL() string { return c.url }

// Timeout returns the member liveness timeout in force.
func (c *Coordinator) Timeout() time.Duration { return c.timeout }

// Characteristics returns what the driver declares it guarantees.
func (c *Coordinator) Characteristics() []Characteristic { return slices.Clone(c.chars) }

// Driver returns the underlying driver, for type assertions to optional
// driver interfaces. Using it directly bypasses the Coordinator's checks.
func (c *Coordinator) Driver() CoordinationDriver { return c.drv }

// check reports ErrClosed after Close.
func (c *Coordinator) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return nil
}

// cleanupContext returns a context for cleanup (see driverkit.CleanupContext).
func cleanupContext(parent context.Context) (context.Context, context.CancelFunc) {
	return driverkit.CleanupContext(parent)
}

func validate(op, group, member, lock string, ids ...string) error {
	for _, id := range ids {
		if err := ValidateID(id); err != nil {
			return wrap(err, op, group, member, lock)
		}
	}
	return nil
}

func validCaps(op, group string, caps []byte) error {
	if len(caps) > MaxCapabilitiesLength {
		return wrap(fmt.Errorf("%w: %d bytes exceed %d", ErrInvalidCapabilities, len(caps), MaxCapabilitiesLength), op, group, "", "")
	}
	return nil
}

// CreateGroup creates a group. It fails with ErrGroupAlreadyExists if it exists.
func (c *Coordinator) CreateGroup(ctx context.Context, group string) error {
	const op = "create"
	if err := validate(op, group, "", "", group); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return wrap(err, op, group, "", "")
	}
	return wrap(c.drv.CreateGroup(ctx, group), op, group, "", "")
}

// DeleteGroup deletes an empty group. It fails with ErrGroupNotCreated or ErrGroupNotEmpty.
func (c *Coordinator) DeleteGroup(ctx context.Context, group string) error {
	const op = "delete"
	if err := validate(op, group, "", "", group); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return wrap(err, op, group, "", "")
	}
	return wrap(c.drv.DeleteGroup(ctx, group), op, group, "", "")
}

// Groups lists every group, sorted.
func (c *Coordinator) Groups(ctx context.Context) ([]string, error) {
	if err := c.check(); err != nil {
		return nil, wrap(err, "list groups", "", "", "")
	}
	gs, err := c.drv.Groups(ctx)
	if err != nil {
		return nil, wrap(err, "list groups", "", "", "")
	}
	// The registries of ranked elections are the library's, not groups
	// of the application.
	gs = slices.DeleteFunc(gs, isRegistry)
	sort.Strings(gs)
	return gs, nil
}

// JoinGroup makes this member a member of group with the given capabilities
// (opaque bytes, may be nil). The membership lasts until LeaveGroup, Close,
// or the member's liveness expires. It fails with ErrGroupNotCreated.
//
// When the group holds a membership of this member ID written by another
// coordinator — a previous incarnation of a process restarted with the
// same ID, whose liveness has not expired yet — JoinGroup waits, bounded by
// ctx, until that membership is gone (the backend expired it, or proved its
// coordinator dead), then joins. If ctx ends first (another live
// coordinator has this ID) it fails with ErrMemberAlreadyJoined.
// TryJoinGroup fails at once instead.
func (c *Coordinator) JoinGroup(ctx context.Context, group string, capabilities []byte) error {
	return c.join(ctx, group, capabilities, true)
}

// JoinGroupCreate joins group, creating it first if it does not exist.
func (c *Coordinator) JoinGroupCreate(ctx context.Context, group string, capabilities []byte) error {
	err := c.JoinGroup(ctx, group, capabilities)
	if !errors.Is(err, ErrGroupNotCreated) {
		return err
	}
	if err := c.CreateGroup(ctx, group); err != nil && !errors.Is(err, ErrGroupAlreadyExists) {
		return err
	}
	return c.JoinGroup(ctx, group, capabilities)
}

// LeaveGroup removes this member from group. It fails with
// ErrGroupNotCreated or ErrMemberNotJoined.
func (c *Coordinator) LeaveGroup(ctx context.Context, group string) error {
	const op = "leave"
	if err := validate(op, group, c.member, "", group); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return wrap(err, op, group, c.member, "")
	}
	err := c.drv.LeaveGroup(ctx, group)
	if err == nil || errors.Is(err, ErrMemberNotJoined) || errors.Is(err, ErrGroupNotCreated) {
		c.mu.Lock()
		delete(c.joined, group)
		c.mu.Unlock()
	}
	return wrap(err, op, group, c.member, "")
}

// Members lists the IDs of group's members, sorted. It fails with ErrGroupNotCreated.
func (c *Coordinator) Members(ctx context.Context, group string) ([]string, error) {
	infos, err := c.MembersInfo(ctx, group)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(infos))
	for i, m := range infos {
		ids[i] = m.ID
	}
	return ids, nil
}

// MembersInfo lists group's members with capabilities and times, sorted by
// ID, in one round trip where the backend allows.
func (c *Coordinator) MembersInfo(ctx context.Context, group string) ([]MemberInfo, error) {
	const op = "list members"
	if err := validate(op, group, "", "", group); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, wrap(err, op, group, "", "")
	}
	infos, err := c.drv.Members(ctx, group)
	if err != nil {
		return nil, wrap(err, op, group, "", "")
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	return infos, nil
}

// MembersWithCapabilities returns every member's capabilities, keyed by member ID.
func (c *Coordinator) MembersWithCapabilities(ctx context.Context, group string) (map[string][]byte, error) {
	infos, err := c.MembersInfo(ctx, group)
	if err != nil {
		return nil, err
	}
	m := make(map[string][]byte, len(infos))
	for _, i := range infos {
		m[i.ID] = i.Capabilities
	}
	return m, nil
}

// MemberInfo describes member of group. It fails with ErrGroupNotCreated or ErrMemberNotJoined.
func (c *Coordinator) MemberInfo(ctx context.Context, group, member string) (MemberInfo, error) {
	const op = "member info"
	if err := validate(op, group, member, "", group, member); err != nil {
		return MemberInfo{}, err
	}
	if err := c.check(); err != nil {
		return MemberInfo{}, wrap(err, op, group, member, "")
	}
	info, err := c.drv.MemberInfo(ctx, group, member)
	return info, wrap(err, op, group, member, "")
}

// MemberCapabilities returns member's capabilities in group.
func (c *Coordinator) MemberCapabilities(ctx context.Context, group, member string) ([]byte, error) {
	info, err := c.MemberInfo(ctx, group, member)
	return info.Capabilities, err
}

// UpdateCapabilities replaces this member's capabilities in group.
func (c *Coordinator) UpdateCapabilities(ctx context.Context, group string, capabilities []byte) error {
	const op = "update capabilities"
	if err := validate(op, group, c.member, "", group); err != nil {
		return err
	}
	if err := validCaps(op, group, capabilities); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return wrap(err, op, group, c.member, "")
	}
	if err := c.drv.UpdateCapabilities(ctx, group, capabilities); err != nil {
		return wrap(err, op, group, c.member, "")
	}
	c.mu.Lock()
	if _, ok := c.joined[group]; ok {
		c.joined[group] = bytes.Clone(capabilities)
	}
	c.mu.Unlock()
	return nil
}

// Close leaves every group, resigns every leadership and releases every lock
// at once (no waiting for timeouts), stops the heart and the watchers, and
// closes the connections. It is safe to call twice (the second call does
// nothing) and on a nil *Coordinator (it returns nil). Cleanup runs on ctx
// while it is live, else on a short context of its own.
func (c *Coordinator) Close(ctx context.Context) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closing)
	c.mu.Unlock()
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	err := c.shutdown(func() error { return c.drv.Close(cctx) }, nil)
	return wrap(err, "close", "", c.member, "")
}

// shutdown stops the heart, candidacies and watches, ends the driver with
// end, reports every holding ended with reason, and closes the hubs once
// their last events are queued.
func (c *Coordinator) shutdown(end func() error, reason error) error {
	c.mu.Lock()
	cands := c.candidacies
	c.candidacies = map[string]*candidacy{}
	c.mu.Unlock()
	if c.heart != nil {
		c.heart.stop()
	}
	for _, cd := range cands {
		cd.stop()
	}
	c.mu.Lock()
	hubs := make([]*hub, 0, len(c.hubs))
	for _, h := range c.hubs {
		hubs = append(hubs, h)
	}
	c.mu.Unlock()
	for _, h := range hubs {
		h.stopDriverWatch()
	}
	for _, w := range c.keyWatchList() {
		w.end()
	}
	// The driver ends every ownership as it closes: that is the end we
	// report (reason), not a loss seen by the holdings' own watchers.
	c.mu.Lock()
	for h := range c.holdings {
		h.releasing.Store(true)
	}
	c.mu.Unlock()
	err := end()
	c.endHoldings(reason)
	c.live.stop()
	for _, h := range hubs {
		h.close()
	}
	c.wg.Wait()
	return err
}

// Abandon makes the coordinator behave as if its process crashed: the heart
// stops, watches and candidacies end, and the driver drops its connections
// without leaving groups or releasing anything, so that other members see
// this one expire after the timeout. It is meant for tests (conformance
// harnesses, fault drills). It fails with ErrNotSupported when the driver
// cannot simulate a crash.
func (c *Coordinator) Abandon() error {
	a, ok := c.drv.(Abandoner)
	if !ok {
		return wrap(ErrNotSupported, "abandon", "", c.member, "")
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closing)
	c.mu.Unlock()
	// The process is "dead": nothing it held may be acted on any more.
	_ = c.shutdown(func() error { a.Abandon(); return nil }, fmt.Errorf("%w: coordinator abandoned", ErrSessionLost))
	return nil
}
