// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package file registers the "file" driver: coordination between the
// processes of one host through a directory, with no server. It is the
// embedded default backend of the tooz command-line tool.
//
//	c, err := tooz.Open(ctx, "file:///var/lib/myapp/tooz?namespace=billing", "worker-7")
//
// The URL path is the directory (created if missing); the namespace is a
// subdirectory of it. Every process that opens the same directory and
// namespace coordinates with the others. Options:
//
//	timeout=10s   the member liveness timeout (common to every driver)
//	namespace=NS  the subdirectory used (common to every driver)
//	sync=true     fsync fencing counters and group directories, so that
//	              they survive a power loss (default false: they survive any
//	              process crash, which is what the coordination needs)
//	poll=50ms     never use inotify: watchers and lock waiters re-read the
//	              directory at this interval (for filesystems whose changes
//	              inotify does not report)
//
// # How it works
//
// Locks and elections are flock(2) locks, which belong to an open file
// description: two handles in one process exclude each other, and the kernel
// frees them the moment their holder's process dies, so a crashed holder's
// lock and leadership move on at once, without waiting for any timeout. A
// waiter tries a non-blocking flock whenever the holder's release touches the
// lock file (an inotify event) or the holder's process exits (a pidfd, on
// Linux), and otherwise with a bounded backoff, at most 50ms apart. The
// fencing token is a counter in the lock file, incremented under the lock,
// beside the holder's member ID and process. The holder shows that it still
// holds the lock with a mark that readers test without taking it (an OFD
// lock on the lock file on Linux, elsewhere a freshly written owner file
// that the holder keeps flocked), so a dead holder's leftover record never
// names a leader.
//
// Membership is a file per member in a directory per group. Each file names
// its coordinator's session: one file per coordinator whose modification
// time the heartbeat refreshes (one write per beat, however many groups the
// member joined). A member whose session was not renewed within its timeout
// is gone for every reader; the first reader that sees this removes the
// session file, which makes the verdict final: a late heartbeat finds its
// session gone, reports tooz.ErrSessionLost and starts a new one. Watchers
// follow the directories with inotify, arm a timer at the earliest session
// deadline, report the leave within a few milliseconds of it, and remove the
// dead member's file.
//
// A coordinator also holds a shared flock on its session file while the
// session lives. The kernel drops it when the process dies, so a reader
// that finds a session file nobody holds knows its process is gone: the
// session is dead at once, whatever its timeout. A member restarted with
// the same ID after a crash therefore joins at once (tooz.JoinGroup waits
// only for a live or not-yet-expired previous incarnation).
//
// Every file is written to a temporary name and renamed into place, so a
// reader never sees a partial file. Group directories are guarded by a flock
// on the directory itself: writers take it exclusively, listings take it
// shared and so read a consistent snapshot; the directory of all groups is
// guarded the same way.
//
// # Limits
//
// The directory must be on a local filesystem: NFS and SMB mounts are
// refused, because flock there is emulated per process and inotify does not
// see other clients' changes. Every process using it must be able to write
// every file in it (run them as one user, or as one group with umask 002).
// Liveness compares file modification times with the wall clock of the same
// host; a clock step forward by more than the timeout makes members expire
// and re-join (locks are not affected). With the poll option (or when
// inotify is out of watches), a member that joins and leaves between two
// polls goes unreported; with inotify every change is. A lock file is kept
// for every lock name ever used, since it carries the fencing counter.
//
// # Layout
//
//	DIR/NS/groups/G/M        member M of group G (ID, session, capabilities, times)
//	DIR/NS/groups/G/.id      the group's name, when G is a hash (names too long to escape)
//	DIR/NS/sessions/S        a coordinator's session; its mtime is the last heartbeat
//	DIR/NS/locks/L           lock L: flocked and marked by its holder; fencing counter, holder's ID and PID
//	DIR/NS/locks/L.o         lock L's owner file, flocked while held (platforms without OFD locks)
//	DIR/NS/elections/G       the same for the leadership of group G
//	DIR/NS/semaphores/S/     semaphore S: ".seq" (ticket counter), a flocked file per contender (shared.go),
//	                         and ".idle-…" files coordinators keep flocked for their next contender (sharedir.go)
//	DIR/NS/rwlocks/L/        read/write lock L, likewise
//	DIR/NS/kv/K              key K of the key/value namespace: revision, writer's session
//	                         (ephemeral keys), key and value (kv.go)
//	DIR/NS/kv/.rev           the key/value namespace's change counter
//	DIR/NS/tmp/              files being written
//
// Names are escaped with internal/keyspace, or replaced by "=" and a SHA-256
// when the escaped form is too long for a file name; IDs are stored inside
// the files, so every ID round-trips byte for byte.
package file
