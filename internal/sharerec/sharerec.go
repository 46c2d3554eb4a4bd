// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package sharerec names the key spaces of semaphores and read/write
// locks (Space) and encodes the record a driver stores for one contender
// of a semaphore or read/write lock: its share (exclusive, or shared with a
// semaphore's number of permits) and its member ID, as the value of a
// contender key: the etcd and Consul drivers store this one format and
// ignore, with a log line, what does not decode. (The ZooKeeper and file
// drivers put the share in the contender's name, so that a listing tells
// it; the Redis driver keeps its own entry, which its scripts parse.)
package sharerec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/toozgo/tooz"
)

// Space names the key space of a resource kind under a driver's
// namespace: "semaphores" for tooz.KindSemaphore, "rwlocks" for
// tooz.KindRWLock. Every driver lays its contenders out below it.
func Space(kind tooz.ResourceKind) string {
	if kind == tooz.KindRWLock {
		return "rwlocks"
	}
	return "semaphores"
}

// magic starts every record: a format version.
const magic = "tzs1"

// Encode returns the record of a contender with share sh and member ID member:
// "tzs1 x 0 MEMBER" for an exclusive one, "tzs1 s N MEMBER" for a shared one.
func Encode(sh tooz.Share, member string) string {
	mode := "s"
	if sh.Exclusive {
		mode = "x"
	}
	return magic + " " + mode + " " + strconv.Itoa(sh.Limit) + " " + member
}

// ErrCorrupt reports a record that is not one Encode wrote.
var ErrCorrupt = errors.New("not a tooz semaphore or read/write lock record")

// Decode returns the share and member ID of a record, or an error wrapping
// ErrCorrupt.
func Decode(rec string) (tooz.Share, string, error) {
	parts := strings.SplitN(rec, " ", 4)
	if len(parts) != 4 || parts[0] != magic {
		return tooz.Share{}, "", fmt.Errorf("%w: %.40q", ErrCorrupt, rec)
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil || n < 0 || n > tooz.MaxPermits {
		return tooz.Share{}, "", fmt.Errorf("%w: bad number of permits %.20q", ErrCorrupt, parts[2])
	}
	var sh tooz.Share
	switch parts[1] {
	case "x":
		if n != 0 {
			return tooz.Share{}, "", fmt.Errorf("%w: an exclusive contender with %d permits", ErrCorrupt, n)
		}
		sh.Exclusive = true
	case "s":
		sh.Limit = n
	default:
		return tooz.Share{}, "", fmt.Errorf("%w: bad mode %.10q", ErrCorrupt, parts[1])
	}
	if err := tooz.ValidateID(parts[3]); err != nil {
		return tooz.Share{}, "", fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return sh, parts[3], nil
}
