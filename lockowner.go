// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import "errors"

// ErrNoOwner reports that nobody holds a lock (Lock.Owner on a free lock).
// An error wrapping it also satisfies errors.Is(err, ErrNoLeader), which
// Lock.Owner reported before ErrNoOwner existed.
var ErrNoOwner error = noOwnerError{}

// noOwnerError is ErrNoOwner's type: its Is keeps the older ErrNoLeader
// test true while the message speaks of locks.
type noOwnerError struct{}

func (noOwnerError) Error() string { return "lock not held" }

func (noOwnerError) Is(target error) bool { return target == ErrNoLeader }

// lockOwnerError turns a driver's "no leader" answer about a lock into
// ErrNoOwner; other errors are returned unchanged.
func lockOwnerError(err error) error {
	if err != nil && errors.Is(err, ErrNoLeader) {
		return ErrNoOwner
	}
	return err
}
