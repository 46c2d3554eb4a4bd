// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by a Coordinator, a Lock or a
// Leadership wraps one of these (test with errors.Is) and names the group,
// member or lock it concerns.
var (
	// ErrGroupNotCreated reports an operation on a group that does not exist.
	ErrGroupNotCreated = errors.New("group not created")
	// ErrGroupAlreadyExists reports a CreateGroup for a group that exists.
	ErrGroupAlreadyExists = errors.New("group already exists")
	// ErrGroupNotEmpty reports a DeleteGroup on a group that still has members.
	ErrGroupNotEmpty = errors.New("group not empty")
	// ErrMemberAlreadyJoined reports a join by a member that is already in the group.
	ErrMemberAlreadyJoined = errors.New("member already joined")
	// ErrMemberNotJoined reports an operation on a member that is not in the group.
	ErrMemberNotJoined = errors.New("member not joined")
	// ErrLockNotHeld reports a Release of a lock this handle does not hold.
	ErrLockNotHeld = errors.New("lock not held")
	// ErrLockAlreadyHeld reports an Acquire on a handle that already holds its lock.
	// Locks are not re-entrant: use a second handle to contend a second time.
	ErrLockAlreadyHeld = errors.New("lock already held by this handle")
	// ErrNotAcquired reports that a lock or leadership was not obtained: the
	// lock is held by someone else (TryAcquire) or the context ended while
	// waiting (Acquire, Campaign). It is not a backend failure.
	ErrNotAcquired = errors.New("not acquired")
	// ErrNotLeader reports a StandDown by a member that does not lead the group.
	ErrNotLeader = errors.New("not the leader")
	// ErrNoLeader reports that a group has no leader at the moment.
	ErrNoLeader = errors.New("no leader")
	// ErrInvalidID reports a group, member or lock name that is empty, not
	// valid UTF-8 or longer than MaxIDLength bytes. It is returned before any I/O.
	ErrInvalidID = errors.New("invalid ID")
	// ErrInvalidCapabilities reports capabilities larger than MaxCapabilitiesLength.
	ErrInvalidCapabilities = errors.New("invalid capabilities")
	// ErrInvalidURL reports a URL that cannot be parsed, or an option that is
	// unknown to the driver or has a bad value.
	ErrInvalidURL = errors.New("invalid URL")
	// ErrUnknownDriver reports a URL scheme with no registered driver.
	ErrUnknownDriver = errors.New("unknown driver")
	// ErrDriverChosenPoorly reports that the driver lacks a characteristic
	// passed to Require.
	ErrDriverChosenPoorly = errors.New("driver chosen poorly")
	// ErrNotSupported reports a feature the driver does not implement.
	ErrNotSupported = errors.New("not supported")
	// ErrConnection reports that the backend could not be reached.
	ErrConnection = errors.New("connection failed")
	// ErrAuth reports credentials the backend rejected.
	ErrAuth = errors.New("authentication failed")
	// ErrTimeout reports an operation whose context deadline passed. The
	// error also wraps context.DeadlineExceeded.
	ErrTimeout = errors.New("timed out")
	// ErrClosed reports use of a Coordinator after Close.
	ErrClosed = errors.New("coordinator closed")
	// ErrAlreadyLeader reports a Campaign by a coordinator that already
	// leads the group.
	ErrAlreadyLeader = errors.New("already the leader")
	// ErrInvalidHoldOff reports a HoldOff below 0 or above MaxHoldOff.
	ErrInvalidHoldOff = errors.New("invalid hold-off")
	// ErrSessionLost reports that the coordinator's liveness (lease, session,
	// heartbeat key) expired: every lock and leadership held under it is lost.
	ErrSessionLost = errors.New("session lost")
	// ErrKeyNotFound reports a key of the KV namespace that does not exist.
	ErrKeyNotFound = errors.New("key not found")
	// ErrConflict reports a conditional KV write (IfRevision) whose key
	// was not at the revision given: written or deleted meanwhile.
	ErrConflict = errors.New("revision conflict")
	// ErrValueTooLarge reports a KV value longer than MaxValueLength.
	ErrValueTooLarge = errors.New("value too large")
)

// Error is the error type returned by the Coordinator and its handles. It
// wraps a sentinel error (or a backend error) with the operation and the
// names it concerns. Its message never contains credentials.
type Error struct {
	Op     string // the operation, e.g. "join group"
	Group  string // the group concerned, if any
	Member string // the member concerned, if any
	Lock   string // the lock concerned, if any
	Key    string // the key or key prefix concerned, if any
	Err    error  // the underlying error
}

// Error formats the error as "tooz: OP group "G" member "M": ERR".
func (e *Error) Error() string {
	s := "tooz: " + e.Op
	if e.Group != "" {
		s += fmt.Sprintf(" group %q", e.Group)
	}
	if e.Member != "" {
		s += fmt.Sprintf(" member %q", e.Member)
	}
	if e.Lock != "" {
		s += fmt.Sprintf(" lock %q", e.Lock)
	}
	if e.Key != "" {
		s += fmt.Sprintf(" key %q", e.Key)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// wrap turns err into an *Error for op, adding ErrTimeout when a context
// deadline caused it. It returns nil for a nil err.
func wrap(err error, op, group, member, lock string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return &Error{Op: op, Group: group, Member: member, Lock: lock, Err: err}
}
