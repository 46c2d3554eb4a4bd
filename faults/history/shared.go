// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package history

// Records of the semaphore and read/write lock workloads (the workload's
// shared.go, the checker's shared.go).
const (
	// EnterShared and ExitShared bracket a section that others may hold
	// at the same time: a semaphore permit (F FPermit, Note "permits=N")
	// or a shared holding of a read/write lock (F FRLock). The exclusive
	// holdings of a read/write lock (F FWLock) are plain Enter/Exit
	// sections, to which every rule of a lock applies.
	EnterShared = "enter-shared"
	ExitShared  = "exit-shared"
	// Read records the fenced register receiving a read (Accepted): a
	// shared holder of a read/write lock shows it to the register, which
	// refuses it below the highest write token, and refuses any later
	// write below it.
	Read = "read"
)

// Operation and section names of the semaphore and read/write lock workloads.
const (
	FAcquirePermit = "acquire-permit" // Semaphore.Acquire
	FReleasePermit = "release-permit"
	FAcquireShared = "acquire-shared" // RWLock.AcquireShared
	FAcquireExcl   = "acquire-exclusive"
	FReleaseRW     = "release-rw"
	FPermit        = "permit" // section: a permit held
	FRLock         = "rlock"  // section: the read/write lock held shared
	FWLock         = "wlock"  // section: the read/write lock held exclusively
	FRead          = "read"   // a shared holder's fenced read
)
