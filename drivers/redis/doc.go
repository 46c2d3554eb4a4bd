// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package redis registers the Redis driver under the URL schemes "redis",
// "rediss" (TLS) and "redis+sentinel". It uses go-redis' UniversalClient,
// so one node, Sentinel and Cluster all work.
//
//	redis://[user:password@]host:6379[/db][?options]
//	rediss://[user:password@]host:6379[/db][?options]
//	redis://host1:7000,host2:7001,host3:7002        (Redis Cluster: several hosts)
//	redis+sentinel://[user:password@]host:26379,host:26380[/db]?master=NAME
//
// Options: namespace (key prefix, default "tooz"), timeout (member liveness,
// default 10s), lock_ttl (a lock's time to live, default the timeout; a
// lock's tooz.WithLockTTL overrides it), pool_size, dial_timeout (default
// 5s), read_timeout (default 3s, also the write timeout), and for Sentinel
// master (the monitored master's name; the password in the URL is the
// master's). rediss also takes ca (PEM file of the CA to trust instead of
// the system roots), cert and key (PEM files of a client certificate, for
// servers with --tls-auth-clients); unreadable files are ErrInvalidURL at
// Open, before any I/O, and a certificate the client rejects is
// ErrConnection. Unknown options are an error; passwords never appear in errors
// or logs.
//
// # How it works
//
// Redis has no sessions, so each coordinator's liveness is a session key
// with a TTL (PX timeout), renewed by the heart. Every membership, lock
// and candidacy records the session's ID, and the session keeps an index of
// what it owns. Every coordinator's heartbeat runs a reaper: sessions whose
// deadline passed (a sorted set holds them by deadline) are removed with
// everything they owned, publishing a leave event for each membership and
// handing each held lock to its next waiter. A coordinator that watches a
// group or waits for a lock also runs the reaper at the earliest deadline
// it knows of, so a crashed member leaves within moments of its timeout
// even if nobody lists the group. Listing, Owner and DeleteGroup reap too.
// An acquisition, a waiter's recheck or Owner that finds the holder's
// session dead has it reaped by a script of its own, then asks again: each
// script carries only the part of the shared Lua it can call, and reaping
// needs most of it.
//
// Every change is one Lua script, so it is atomic. All keys of a namespace
// share one hash tag ({namespace}), so on Cluster they live in one slot and
// a script may touch any of them. The driver needs no CONFIG SET and no
// keyspace notifications (managed Redis services forbid them). It is
// tested with Redis 7; the scripts need Redis 4.0 or later. Use a
// maxmemory policy that never evicts keys with a TTL (noeviction or
// allkeys-*): an evicted session key is a lost session.
//
// Group events are pushed: the scripts PUBLISH each change on a per-group
// channel with a sequence number and the group's previous one. A watcher
// subscribes, lists the group once the subscription is confirmed, skips
// events older than the listing, and lists again (calling Reset) when it
// sees a gap or when go-redis silently replaced its connection (detected by
// the repeated subscription confirmation, or by a health ping that got no
// answer).
//
// A lock is a hash set only if absent, by a script, with a random token, the
// session ID, the holder's member ID (for Owner) and a fencing token, and a
// PX TTL (lock_ttl). Release and refresh compare the token. Waiters queue
// first in first served: the script that frees a lock hands it to the first
// waiter whose session lives and publishes the grant on that waiter's own
// channel, so exactly one waiter wakes. The head of the queue also
// rechecks when the holder's TTL would run out, and the others back off
// exponentially, as a fallback only. Leader election uses the same
// primitives on a separate key space.
//
// The key/value namespace is one hash ({ns}:kv) of escaped key to
// "revision session|- value", with a change counter ({ns}:kvrev) and a
// channel ({ns}:kv:ev) on which every change is published with the
// revision of the change before it, so that a watcher sees a gap; an
// ephemeral key is in its session's index and goes with it (kv.go).
//
// Semaphores and read/write locks are a sorted set of contenders per name
// in ticket order (see shared.go): the script that frees a permit grants
// exactly the contenders it lets in and publishes each grant on that
// contender's channel. They are tied to the session alone, without a lock
// TTL.
//
// The holder tracks each lock's validity locally: a deadline counted from
// the start of the call that set the TTL on the server (acquire, or each
// refresh), less a tenth of the TTL (at least 1% + 2ms, for clock drift):
// the rule the Coordinator applies to the member liveness too. The heart refreshes every held
// lock in its heartbeat script (and one timer per coordinator refreshes a
// lock whose TTL is shorter than the heart's interval). Lost() closes when
// a refresh finds the token gone or when the local deadline passes without
// a successful refresh — before the server can give the lock to anyone else.
//
// # Lock safety, and why fencing matters
//
// Redis replicates asynchronously. A write acknowledged by the master can
// be lost when the master fails and Sentinel or Cluster promotes a replica
// that had not received it yet; a master restarted without persistence
// loses everything. After such a failover a second client can acquire a
// lock that the first still believes it holds. The driver therefore
// declares the characteristics tooz's Redis driver declares — distributed
// across threads, processes and hosts, and causal — and not linearizable:
// do not use it where two simultaneous holders would corrupt data, unless
// the data store checks fencing tokens.
//
// Even on a perfect backend, a lock held through a TTL has a second hazard:
// the holder can pause (a garbage collection, a swapped-out process, a
// stalled VM) past its deadline, resume, and write while believing it still
// holds the lock, after the lock passed to someone else. Lost() cannot help
// a process that is not running. Fencing does: every holder of a lock name
// gets a token strictly greater than all earlier holders'
// (Lock.FencingToken, Leadership.FencingToken); pass it with every write and
// let the store refuse writes carrying a token lower than one it has seen.
// A stale holder's writes are then rejected whatever its clock or
// scheduler did.
//
// The driver's fencing token comes from a per-lock counter incremented in
// the acquiring script, first raised to the server's clock in
// microseconds. The tokens are large numbers, and they keep increasing
// even when the counter itself is lost — a restart without persistence, or
// a failover that lost the last increment — as long as the server clocks do
// not go back. With several replicas, keep their clocks synchronized.
//
// The fencing counter of a lock name is never deleted (one small key per
// lock name ever used), so that tokens never repeat.
//
// # Logs
//
// go-redis has one process-global logger, and most of its lines cannot be
// tied to a client; importing this driver points it at slog.Default (at
// Info, "library=go-redis", URL passwords masked) instead of plain text on
// stderr. Use slog.SetDefault, or call redis.SetLogger after the import, to
// send them elsewhere.
package redis
