// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package record encodes what drivers store for a membership (capabilities
// and times) as one value, for backends whose keys hold no metadata.
//
// Layout: the 3-byte magic "tz1", joined-at and updated-at as big-endian
// int64 Unix nanoseconds, then the capabilities verbatim.
package record

import (
	"encoding/binary"
	"errors"
	"time"
)

// ErrMalformed reports a value that Encode did not produce (foreign data
// under the namespace, a truncated write).
var ErrMalformed = errors.New("record: malformed member value")

const magic = "tz1"

const headerLen = len(magic) + 16

// Member is one membership as stored.
type Member struct {
	Capabilities []byte
	JoinedAt     time.Time
	UpdatedAt    time.Time
}

// Encode returns the stored form of m.
func Encode(m Member) []byte {
	b := make([]byte, headerLen, headerLen+len(m.Capabilities))
	copy(b, magic)
	binary.BigEndian.PutUint64(b[3:], uint64(m.JoinedAt.UnixNano()))
	binary.BigEndian.PutUint64(b[11:], uint64(m.UpdatedAt.UnixNano()))
	return append(b, m.Capabilities...)
}

// Decode parses a value written by Encode. The capabilities returned are a
// copy, never nil.
func Decode(b []byte) (Member, error) {
	if len(b) < headerLen || string(b[:3]) != magic {
		return Member{}, ErrMalformed
	}
	caps := make([]byte, len(b)-headerLen)
	copy(caps, b[headerLen:])
	return Member{
		Capabilities: caps,
		JoinedAt:     time.Unix(0, int64(binary.BigEndian.Uint64(b[3:]))),
		UpdatedAt:    time.Unix(0, int64(binary.BigEndian.Uint64(b[11:]))),
	}, nil
}
