// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
)

// The key/value namespace is one hash ({ns}:kv) of escaped key to
// "rev sid value", sid being the session of an ephemeral key or "-". Every
// change is a script that counts it ({ns}:kvrev: the key's new revision)
// and publishes it on {ns}:kv:ev with the revision of the change before,
// so that a watcher sees a gap. An ephemeral key is in its session's
// index, so the reaper deletes it (with an event) when the session dies;
// reads reap a dead writer's key before answering.

var _ tooz.KVStore = (*conn)(nil)

func (c *conn) kvKey() string  { return c.p + ":kv" }
func (c *conn) kvChan() string { return c.p + ":kv:ev" }

// kvLive is Lua shared by the scripts below: the stored entry of ek, after
// reaping its writer's session if that died.
const kvLive = `
local function kv_live(ek)
  local raw = redis.call('HGET', KV, ek)
  local sid = kv_sid(raw)
  if sid ~= '' and not alive(sid) then
    reap(sid)
    raw = redis.call('HGET', KV, ek)
  end
  return raw
end
`

// scriptKVGet: KEYS kv; ARGV P, key. The entry or nil.
var scriptKVGet = script(kvLive + `
return kv_live(ARGV[2])
`)

// scriptKVList: KEYS kv; ARGV P. {last change, {key, entry, ...}} after
// reaping the dead writers of ephemeral keys.
var scriptKVList = script(kvLive + `
local all = redis.call('HGETALL', KV)
local seen = {}
for i = 2, #all, 2 do
  local sid = kv_sid(all[i])
  if sid ~= '' and seen[sid] == nil then
    seen[sid] = alive(sid)
    if not seen[sid] then reap(sid) end
  end
end
return {redis.call('GET', P .. ':kvrev') or '0', redis.call('HGETALL', KV)}
`)

// scriptKVPut: KEYS kv; ARGV P, key, check (1|0), revision, sid (” for a
// durable key), value. The new revision, -1 on a failed check, -3 when the
// session is gone.
var scriptKVPut = script(kvLive + `
local ek, sid = ARGV[2], ARGV[5]
if sid ~= '' and not alive(sid) then return -3 end
local raw = kv_live(ek)
local cur = kv_rev(raw)
if ARGV[3] == '1' and cur ~= tonumber(ARGV[4]) then return -1 end
local old = kv_sid(raw)
if old ~= '' and old ~= sid then redis.call('HDEL', ikey(old), 'k' .. ek) end
local rev, prev = kv_next(cur)
local s = sid
if s == '' then s = '-' end
local rec = fmt(rev) .. ' ' .. s .. ' ' .. ARGV[6]
redis.call('HSET', KV, ek, rec)
if sid ~= '' then redis.call('HSET', ikey(sid), 'k' .. ek, '1') end
kv_publish(rev, prev, 'P', ek, rec)
return rev
`)

// scriptKVDelete: KEYS kv; ARGV P, key, check (1|0), revision. 1 deleted,
// 0 not found, -1 on a failed check.
var scriptKVDelete = script(kvLive + `
local raw = kv_live(ARGV[2])
if ARGV[3] == '1' and (not raw or kv_rev(raw) ~= tonumber(ARGV[4])) then return -1 end
if not raw then return 0 end
kv_delete(ARGV[2], raw)
return 1
`)

// decodeKV decodes a stored entry; one tooz did not write is logged and skipped.
func (c *conn) decodeKV(ek, raw string) (tooz.KeyValue, bool) {
	key, err := keyspace.Unescape(ek)
	parts := strings.SplitN(raw, " ", 3)
	var rev uint64
	if err == nil && len(parts) == 3 && (parts[1] == "-" || len(parts[1]) == sidLen) {
		rev, err = strconv.ParseUint(parts[0], 10, 64)
	} else if err == nil {
		err = fmt.Errorf("malformed entry")
	}
	if err != nil {
		c.log.Warn("tooz/redis: ignoring a key/value entry that tooz did not write", "key", ek, "err", err)
		return tooz.KeyValue{}, false
	}
	return tooz.KeyValue{Key: key, Value: []byte(parts[2]), Revision: rev, Ephemeral: parts[1] != "-"}, true
}

// GetKey implements tooz.KVStore.
func (c *conn) GetKey(ctx context.Context, key string) (tooz.KeyValue, error) {
	if _, err := c.current(); err != nil {
		return tooz.KeyValue{}, err
	}
	ek := keyspace.Escape(key)
	v, err := c.run(ctx, scriptKVGet, []string{c.kvKey()}, c.p, ek).Result()
	if err != nil {
		if errors.Is(err, goredis.Nil) {
			return tooz.KeyValue{}, tooz.ErrKeyNotFound
		}
		return tooz.KeyValue{}, c.mapErr(ctx, err)
	}
	raw, _ := v.(string)
	kv, ok := c.decodeKV(ek, raw)
	if !ok {
		return tooz.KeyValue{}, fmt.Errorf("%w: the stored entry was not written by tooz", tooz.ErrKeyNotFound)
	}
	return kv, nil
}

// listKV returns the keys under prefix and the last change's revision.
func (c *conn) listKV(ctx context.Context, prefix string) ([]tooz.KeyValue, int64, error) {
	v, err := c.run(ctx, scriptKVList, []string{c.kvKey()}, c.p).Slice()
	if err != nil {
		return nil, 0, c.mapErr(ctx, err)
	}
	if len(v) != 2 {
		return nil, 0, fmt.Errorf("unexpected key listing reply of %d values", len(v))
	}
	last, err := toInt(v[0])
	if err != nil {
		return nil, 0, err
	}
	pairs, _ := v[1].([]any)
	ep := keyspace.Escape(prefix)
	var out []tooz.KeyValue
	for i := 0; i+1 < len(pairs); i += 2 {
		ek, _ := pairs[i].(string)
		raw, _ := pairs[i+1].(string)
		if !strings.HasPrefix(ek, ep) {
			continue
		}
		if kv, ok := c.decodeKV(ek, raw); ok {
			out = append(out, kv)
		}
	}
	return out, last, nil
}

// ListKeys implements tooz.KVStore: one script reads the whole hash.
func (c *conn) ListKeys(ctx context.Context, prefix string) ([]tooz.KeyValue, error) {
	if _, err := c.current(); err != nil {
		return nil, err
	}
	kvs, _, err := c.listKV(ctx, prefix)
	return kvs, err
}

func checkArgs(w tooz.KeyWrite) (string, string) {
	if w.Check {
		return "1", strconv.FormatUint(w.Revision, 10)
	}
	return "0", "0"
}

// PutKey implements tooz.KVStore.
func (c *conn) PutKey(ctx context.Context, key string, value []byte, w tooz.KeyWrite) (uint64, error) {
	sid, err := c.current()
	if err != nil {
		return 0, err
	}
	if !w.Ephemeral {
		sid = ""
	}
	check, rev := checkArgs(w)
	r, err := c.run(ctx, scriptKVPut, []string{c.kvKey()}, c.p, keyspace.Escape(key), check, rev, sid, value).Int64()
	switch {
	case err != nil:
		return 0, c.mapErr(ctx, err)
	case r == -1:
		return 0, tooz.ErrConflict
	case r == -3:
		return 0, errSessionGone
	case r <= 0:
		return 0, fmt.Errorf("unexpected put reply %d", r)
	}
	return uint64(r), nil
}

// DeleteKey implements tooz.KVStore.
func (c *conn) DeleteKey(ctx context.Context, key string, w tooz.KeyWrite) error {
	if _, err := c.current(); err != nil {
		return err
	}
	check, rev := checkArgs(w)
	r, err := c.run(ctx, scriptKVDelete, []string{c.kvKey()}, c.p, keyspace.Escape(key), check, rev).Int64()
	switch {
	case err != nil:
		return c.mapErr(ctx, err)
	case r == -1:
		return tooz.ErrConflict
	case r == 0:
		return tooz.ErrKeyNotFound
	}
	return nil
}

// WatchKeys implements tooz.KVStore with pub/sub (see seqWatch): it
// subscribes to the namespace's key channel, lists the keys once the
// subscription is confirmed, then applies the published changes. A change
// older than the listing is skipped; a gap (a message lost, a reconnect)
// makes the watch list the keys again and give the sink a new snapshot.
func (c *conn) WatchKeys(ctx context.Context, prefix string, sink tooz.KeySink) (func(), error) {
	ep := keyspace.Escape(prefix)
	return c.watchSeq(ctx, c.kvChan(), "keys "+ep,
		func(ctx context.Context) (int64, func(), error) {
			kvs, last, err := c.listKV(ctx, prefix)
			if err != nil {
				return 0, nil, err
			}
			return last, func() { sink.Snapshot(kvs, uint64(last)) }, nil
		},
		func(rest string, rev int64) { c.keyEvent(ep, sink, rest, rev) })
}

// keyEvent applies a key change after its revisions: "kind len(key) key",
// followed for a put by the stored entry.
func (c *conn) keyEvent(ep string, sink tooz.KeySink, rest string, rev int64) {
	parts := strings.SplitN(rest, " ", 3)
	var n int
	var err error
	if len(parts) == 3 {
		n, err = strconv.Atoi(parts[1])
	}
	if len(parts) != 3 || err != nil || n < 0 || n > len(parts[2]) {
		c.log.Warn("tooz/redis: ignoring a key event that tooz did not publish")
		return
	}
	ek, rec := parts[2][:n], parts[2][n:]
	if !strings.HasPrefix(ek, ep) {
		return
	}
	switch parts[0] {
	case "P":
		if kv, ok := c.decodeKV(ek, rec); ok {
			sink.Put(kv)
		}
	case "D":
		if key, err := keyspace.Unescape(ek); err == nil {
			sink.Deleted(key, uint64(rev))
		}
	}
}
