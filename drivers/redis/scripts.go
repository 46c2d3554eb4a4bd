// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"regexp"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// Key layout under the prefix P = "{escaped namespace}" (one hash tag, so
// every key of a namespace lives in one Cluster slot and a script may touch
// any of them):
//
//	P:seq              counter of group events (INCR)
//	P:groups           HASH escaped group -> seq of its last event; a field per existing group
//	P:g:<group>        HASH member ID (raw bytes) -> session ID (32 hex) .. internal/record bytes
//	P:g:<group>:ev     pub/sub channel: "<seq> <prev seq> <L|C|D> <member>", or for a
//	                   join or an update "<seq> <prev seq> <j|U> <len(member)> <member><sid><record>"
//	                   (older versions published "J <member>" for a join: new letters, so
//	                   that an older watcher ignores what it cannot parse instead of misreading it)
//	P:sessions         ZSET session ID -> deadline (server ms); what the reaper scans
//	P:s:<sid>          STRING member ID, PX timeout: the session's liveness
//	P:s:<sid>:i        HASH index of what the session owns: "m"..group -> member,
//	                   "c"..token -> lock key (held or waited for)
//	P:l:<lock>         HASH tok, sid, mem, fence; PX lock TTL (P:e:<group> for elections)
//	P:l:<lock>:f       fencing counter of the lock name (never deleted)
//	P:l:<lock>:q       LIST of waiters "tok|sid|cid|ttl|member", first in first served
//	P:c:<cid>          pub/sub channel of one conn: "<token> <fence>" of a waiter just granted a lock
//	P:sem:<name>       ZSET token -> ticket: a semaphore's contenders in queue order (P:rw:<name>
//	                   for a read/write lock); :e HASH token -> entry, :h SET of the granted
//	                   tokens, :f the ticket counter (never deleted); index field "p"..token
//
// Escaped names hold no ':' (internal/keyspace), so no key can be taken for another.

// lib is prepended to every script. ARGV[1] is always the prefix.
const lib = `
if redis.replicate_commands then redis.replicate_commands() end
local P = ARGV[1]
local GROUPS = P .. ':groups'
local SESSIONS = P .. ':sessions'
local function fmt(n) return string.format('%d', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function skey(sid) return P .. ':s:' .. sid end
local function ikey(sid) return P .. ':s:' .. sid .. ':i' end
local function gkey(eg) return P .. ':g:' .. eg end
local function alive(sid) return redis.call('EXISTS', skey(sid)) == 1 end

-- event records a change of group eg and publishes it with its sequence
-- number and the group's previous one, so that a watcher sees a gap. A
-- join or update carries the member's stored entry (rec: session ID and
-- record), after the member ID and its length.
local function event(eg, kind, member, rec)
  local seq = fmt(redis.call('INCR', P .. ':seq'))
  local prev = '0'
  local exists = false
  if kind ~= 'C' then
    local p = redis.call('HGET', GROUPS, eg)
    if p then prev = p; exists = true end
  end
  if kind == 'D' then
    redis.call('HDEL', GROUPS, eg)
  elseif kind == 'C' or exists then
    redis.call('HSET', GROUPS, eg, seq)
  end
  local body = member
  if rec then body = fmt(string.len(member)) .. ' ' .. member .. rec end
  redis.call('PUBLISH', gkey(eg) .. ':ev', seq .. ' ' .. prev .. ' ' .. kind .. ' ' .. body)
end

-- next_fence returns the next value of the fencing counter fk: one INCR
-- while the counter lasts. A counter found missing (a restart without
-- persistence, a failover that lost the last writes) or damaged is seeded
-- from the server's clock in microseconds. The lost counter was seeded the
-- same way and then counted one per grant, fewer than one a microsecond,
-- so the new seed is above every token it gave.
local function next_fence(fk)
  local f = redis.pcall('INCR', fk)
  if type(f) ~= 'number' or f == 1 then
    f = now_us()
    redis.call('SET', fk, fmt(f))
  end
  return fmt(f)
end

-- grant makes tok the holder of lk with a fencing token greater than every
-- earlier one (next_fence).
local function grant(lk, tok, sid, ttl, mem)
  local fence = next_fence(lk .. ':f')
  redis.call('HSET', lk, 'tok', tok, 'sid', sid, 'mem', mem, 'fence', fence)
  redis.call('PEXPIRE', lk, ttl)
  redis.call('PUBLISH', lk .. ':o', fence) -- owner watches (ownerwatch.go)
  return fence
end

-- promote hands a free lk to the first waiter whose session lives and
-- tells that waiter's conn.
local function promote(lk)
  local q = lk .. ':q'
  while true do
    local e = redis.call('LPOP', q)
    if not e then return false end
    local tok, sid, cid = string.sub(e, 1, 32), string.sub(e, 34, 65), string.sub(e, 67, 98)
    local rest = string.sub(e, 100)
    local bar = string.find(rest, '|', 1, true)
    if bar and alive(sid) then
      local f = grant(lk, tok, sid, string.sub(rest, 1, bar - 1), string.sub(rest, bar + 1))
      redis.call('PUBLISH', P .. ':c:' .. cid, tok .. ' ' .. f)
      return tok
    end
    redis.call('HDEL', ikey(sid), 'c' .. tok)
  end
end

-- free hands a lock just deleted to its first live waiter, or tells the
-- lock's owner watches that it is free.
local function free(lk)
  if not promote(lk) then redis.call('PUBLISH', lk .. ':o', '') end
end

-- drop_contender ends contender tok of lk: releases it (handing over) if
-- it holds lk, else takes it out of the queue.
local function drop_contender(lk, tok)
  if redis.call('HGET', lk, 'tok') == tok then
    redis.call('DEL', lk)
    free(lk)
    return 1
  end
  local q = lk .. ':q'
  for _, e in ipairs(redis.call('LRANGE', q, 0, -1)) do
    if string.sub(e, 1, 33) == tok .. '|' then redis.call('LREM', q, 1, e) end
  end
  return 0
end

-- parse_shared decodes a semaphore or read/write lock entry
-- "sid|cid|mode|limit|fence|member" (see shared.go), or returns nil.
local function parse_shared(raw)
  if not raw or string.len(raw) < 72 or string.sub(raw, 33, 33) ~= '|' or string.sub(raw, 66, 66) ~= '|'
     or string.sub(raw, 68, 68) ~= '|' then return nil end
  local mode = string.sub(raw, 67, 67)
  local limit, fence, mem = string.match(string.sub(raw, 69), '^(%d+)|(%d+)|(.+)$')
  limit = tonumber(limit)
  if (mode ~= 'x' and mode ~= 's') or not limit or not fence or limit > 4096 or (mode == 'x' and limit ~= 0) then return nil end
  return {sid = string.sub(raw, 1, 32), cid = string.sub(raw, 34, 65), x = mode == 'x', limit = limit, fence = fence, mem = mem}
end

-- promote_shared walks the queue K in ticket order. Contenders whose
-- session died are dropped; entries that do not decode are skipped (never
-- counted, so they block nobody); every contender that holds by the rule
-- of tooz.Share.Holds and was not granted yet is, and its conn is told on
-- its channel (except skip, whose script answers it). It returns the
-- oldest live contender's entry.
local function promote_shared(K, skip)
  local es, hs = K .. ':e', K .. ':h'
  local count, anyx, oldest = 0, false, nil
  for _, tok in ipairs(redis.call('ZRANGE', K, 0, -1)) do
    local e = parse_shared(redis.call('HGET', es, tok))
    if not e then
      redis.log(redis.LOG_WARNING, 'tooz: ignoring a corrupt contender ' .. tok .. ' of ' .. K .. ' (ZREM it to clear it)')
    elseif not alive(e.sid) then
      redis.call('ZREM', K, tok)
      redis.call('HDEL', es, tok)
      redis.call('SREM', hs, tok)
      redis.call('HDEL', ikey(e.sid), 'p' .. tok)
    else
      oldest = oldest or e
      local holds
      if e.x then holds = count == 0 else holds = (not anyx) and (e.limit == 0 or count < e.limit) end
      if holds and redis.call('SADD', hs, tok) == 1 and tok ~= skip then
        redis.call('PUBLISH', P .. ':c:' .. e.cid, tok .. ' ' .. e.fence)
      end
      count = count + 1
      if e.x then anyx = true end
    end
  end
  return oldest
end

-- drop_shared takes contender tok out of K, handing what it held on. It
-- returns 1 if tok held, 0 if it waited, -1 if it was gone.
local function drop_shared(K, tok)
  local e = parse_shared(redis.call('HGET', K .. ':e', tok))
  local held = redis.call('SREM', K .. ':h', tok)
  local was = redis.call('ZREM', K, tok)
  redis.call('HDEL', K .. ':e', tok)
  if e then redis.call('HDEL', ikey(e.sid), 'p' .. tok) end
  if was == 0 then return -1 end
  promote_shared(K, '')
  return held
end

-- The key/value namespace (kv.go): one hash KV of escaped key ->
-- "rev sid value" (sid '-' for a durable key), a counter P:kvrev of its
-- changes, and a channel KV:ev where each change is published as
-- "rev prev kind len(key) key[record]", prev being the change before it.
local KV = P .. ':kv'
local function kv_rev(raw)
  if not raw then return 0 end
  return tonumber(string.match(raw, '^(%d+) ')) or 0
end
local function kv_sid(raw)
  local s = raw and string.match(raw, '^%d+ (%S+) ')
  if not s or s == '-' then return '' end
  return s
end
-- kv_next counts one change: its revision is above the counter and the
-- key's own last revision (a lost counter never makes revisions repeat).
local function kv_next(cur)
  local prev = tonumber(redis.call('GET', P .. ':kvrev') or '0') or 0
  local rev = math.max(prev, cur) + 1
  redis.call('SET', P .. ':kvrev', fmt(rev))
  return rev, prev
end
local function kv_publish(rev, prev, kind, ek, rec)
  local body = fmt(rev) .. ' ' .. fmt(prev) .. ' ' .. kind .. ' ' .. fmt(string.len(ek)) .. ' ' .. ek
  if rec then body = body .. rec end
  redis.call('PUBLISH', KV .. ':ev', body)
end
local function kv_delete(ek, raw)
  local sid = kv_sid(raw)
  if sid ~= '' then redis.call('HDEL', ikey(sid), 'k' .. ek) end
  redis.call('HDEL', KV, ek)
  local rev, prev = kv_next(kv_rev(raw))
  kv_publish(rev, prev, 'D', ek)
end

-- reap ends session sid and everything it owns: memberships leave with an
-- event, held locks pass to their next waiter, queued waits vanish,
-- ephemeral keys are deleted with an event.
local function reap(sid)
  redis.call('DEL', skey(sid))
  local ik = ikey(sid)
  local all = redis.call('HGETALL', ik)
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    local t, rest = string.sub(f, 1, 1), string.sub(f, 2)
    if t == 'm' then
      local gk = gkey(rest)
      local cur = redis.call('HGET', gk, v)
      if cur and string.sub(cur, 1, 32) == sid then
        redis.call('HDEL', gk, v)
        event(rest, 'L', v)
      end
    elseif t == 'c' then
      drop_contender(v, rest)
    elseif t == 'p' then
      drop_shared(v, rest)
    elseif t == 'k' then
      local raw = redis.call('HGET', KV, rest)
      if kv_sid(raw) == sid then kv_delete(rest, raw) end
    end
  end
  redis.call('DEL', ik)
  redis.call('ZREM', SESSIONS, sid)
end

-- reap_expired reaps the sessions whose deadline passed and returns the
-- milliseconds until the next deadline (-1: none).
local function reap_expired(now)
  local due = redis.call('ZRANGEBYSCORE', SESSIONS, '-inf', fmt(now), 'LIMIT', 0, 64)
  for _, s in ipairs(due) do
    local pt = redis.call('PTTL', skey(s))
    if pt == -2 then
      reap(s)
    elseif pt >= 0 then
      redis.call('ZADD', SESSIONS, fmt(now + pt), s)
    else
      redis.call('ZADD', SESSIONS, fmt(now + 60000), s)
    end
  end
  local first = redis.call('ZRANGE', SESSIONS, 0, 0, 'WITHSCORES')
  if first[2] then return math.max(tonumber(first[2]) - now, 0) end
  return -1
end

-- reap_dead_members reaps the dead sessions among gk's members; it reports
-- whether there were any.
local function reap_dead_members(gk)
  local all = redis.call('HGETALL', gk)
  local seen, dead = {}, {}
  for i = 1, #all, 2 do
    local s = string.sub(all[i + 1], 1, 32)
    if seen[s] == nil then
      seen[s] = alive(s)
      if not seen[s] then dead[#dead + 1] = s end
    end
  end
  for _, s in ipairs(dead) do reap(s) end
  if #dead == 0 then return false end
  -- entries the index did not know of (foreign or damaged data)
  local eg = string.sub(gk, string.len(P) + 4)
  for i = 1, #all, 2 do
    local cur = redis.call('HGET', gk, all[i])
    if cur and not seen[string.sub(cur, 1, 32)] then
      redis.call('HDEL', gk, all[i])
      event(eg, 'L', all[i])
    end
  end
  return true
end

-- holder_dead tells whether lk's holder's session is dead. Reaping it is
-- most of this library, which every run of a script that may reap carries:
-- the scripts on the lock's hot path answer codeHolderDead instead, and
-- the client runs scriptFreeDeadHolder and asks again.
local function holder_dead(lk)
  local hs = redis.call('HGET', lk, 'sid')
  return hs and not alive(hs)
end

-- check_holder frees lk if its holder's session is dead, and hands a free
-- lk to its first waiter.
local function check_holder(lk)
  local hs = redis.call('HGET', lk, 'sid')
  local freed = false
  if hs and not alive(hs) then
    reap(hs)
    if redis.call('HGET', lk, 'sid') == hs then
      redis.call('DEL', lk)
      freed = true
    end
  end
  -- Only a change is published: a look at a free lock tells nobody.
  if redis.call('EXISTS', lk) == 0 then
    if freed then free(lk) else promote(lk) end
  end
end
`

// script makes a script of body and the part of lib it needs: every
// definition the body names, and those they name in turn. Redis runs a
// script's whole text on every call, and each function defined costs
// (the whole lib is 2–3 µs of server time a call, a third of a lock
// release's script), so a script carries only what it may call.
func script(body string) *goredis.Script { return goredis.NewScript(libFor(body) + body) }

// libDef is one top-level definition of lib with the comment above it:
// name is what it defines ("" for the prologue, always kept), uses the
// other definitions its text names.
type libDef struct {
	name string
	text string
	uses []string
}

// libDefs is lib cut at its top-level definitions, in order; joined, they
// are lib again (TestLibSplit). libIndex finds a definition by its name.
var libDefs, libIndex = splitLib(lib)

var (
	luaName   = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	luaDefine = regexp.MustCompile(`^local (?:function )?([A-Za-z_][A-Za-z0-9_]*)`)
)

// splitLib cuts src at each line that starts, in column 0, a local
// function or variable; the comment lines just above a definition go with
// it. What comes before the first definition is the prologue. A name is
// found wherever its word appears in code, strings included: that can only
// keep a definition that was not needed, never drop one that is.
func splitLib(src string) ([]libDef, map[string]int) {
	defs := []libDef{{}}
	var comment strings.Builder
	for line := range strings.SplitAfterSeq(src, "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "--") {
			comment.WriteString(line)
			continue
		}
		if m := luaDefine.FindStringSubmatch(line); m != nil {
			defs = append(defs, libDef{name: m[1], text: comment.String()})
			comment.Reset()
		}
		d := &defs[len(defs)-1]
		d.text += comment.String() + line
		comment.Reset()
	}
	defs[len(defs)-1].text += comment.String()
	index := make(map[string]int, len(defs))
	for i, d := range defs[1:] {
		index[d.name] = i + 1
	}
	for i := range defs {
		defs[i].uses = namesIn(defs[i].text, index, defs[i].name)
	}
	return defs, index
}

// namesIn lists the names of names that text's code mentions (outside
// comments), except self.
func namesIn(text string, names map[string]int, self string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range luaName.FindAllString(withoutComments(text), -1) {
		if _, ok := names[w]; ok && w != self && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// withoutComments drops every "--" comment from Lua text, keeping quoted
// strings whole.
func withoutComments(text string) string {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(text) {
				b.WriteByte(c)
				i++
				c = text[i]
			} else if c == quote || c == '\n' {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && i+1 < len(text) && text[i+1] == '-':
			for i < len(text) && text[i] != '\n' {
				i++
			}
			if i < len(text) {
				c = '\n'
			} else {
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// libFor returns, in lib's order, the prologue and every definition body
// needs, directly or through another.
func libFor(body string) string {
	need := map[string]bool{}
	todo := namesIn(body, libIndex, "")
	for len(todo) > 0 {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if !need[n] {
			need[n] = true
			todo = append(todo, libDefs[libIndex[n]].uses...)
		}
	}
	var b strings.Builder
	for _, d := range libDefs {
		if d.name == "" || need[d.name] {
			b.WriteString(d.text)
		}
	}
	return b.String()
}

// scriptOpen: KEYS session; ARGV P, sid, ttl ms, member.
var scriptOpen = script(`
local now = now_ms()
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[3])
redis.call('ZADD', SESSIONS, fmt(now + tonumber(ARGV[3])), ARGV[2])
return reap_expired(now)
`)

// scriptHeartbeat: KEYS session, held lock keys...; ARGV P, sid, ttl ms,
// new sid, member, then token and TTL ms of each lock. Returns {1|0 session
// alive, 1|0 per lock, ms until the next session deadline}.
var scriptHeartbeat = script(`
local sid, ttl = ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local out = {}
if redis.call('PEXPIRE', KEYS[1], ARGV[3]) == 1 then
  redis.call('ZADD', SESSIONS, fmt(now + ttl), sid)
  out[1] = 1
  for i = 1, #KEYS - 1 do
    if redis.call('HGET', KEYS[1 + i], 'tok') == ARGV[4 + 2 * i] then
      redis.call('PEXPIRE', KEYS[1 + i], ARGV[5 + 2 * i])
      out[1 + i] = 1
    else
      out[1 + i] = 0
    end
  end
else
  reap(sid)
  redis.call('SET', skey(ARGV[4]), ARGV[5], 'PX', ARGV[3])
  redis.call('ZADD', SESSIONS, fmt(now + ttl), ARGV[4])
  out[1] = 0
  for i = 1, #KEYS - 1 do out[1 + i] = 0 end
end
out[#KEYS + 1] = reap_expired(now)
return out
`)

// scriptRefresh: KEYS session, lock keys...; ARGV P, then token and TTL ms
// of each lock. Returns 1|0 per lock.
var scriptRefresh = script(`
local ok = redis.call('EXISTS', KEYS[1]) == 1
local out = {}
for i = 1, #KEYS - 1 do
  if ok and redis.call('HGET', KEYS[1 + i], 'tok') == ARGV[2 * i] then
    redis.call('PEXPIRE', KEYS[1 + i], ARGV[2 * i + 1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`)

// scriptReap: KEYS sessions; ARGV P. Returns ms until the next deadline.
var scriptReap = script(`
return reap_expired(now_ms())
`)

// scriptClose: KEYS session; ARGV P, sid.
var scriptClose = script(`
reap(ARGV[2])
return 1
`)

// scriptCreateGroup: KEYS groups; ARGV P, group. 1 created, 0 exists.
var scriptCreateGroup = script(`
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return 0 end
event(ARGV[2], 'C', '')
return 1
`)

// scriptDeleteGroup: KEYS groups, group; ARGV P, group. 1 deleted, -1 not
// created, -2 not empty.
var scriptDeleteGroup = script(`
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return -1 end
reap_dead_members(KEYS[2])
if redis.call('HLEN', KEYS[2]) > 0 then return -2 end
redis.call('DEL', KEYS[2])
event(ARGV[2], 'D', '')
return 1
`)

// scriptJoin: KEYS groups, group, session, index; ARGV P, group, member,
// sid, record. 1 joined, -1 not created, -2 already joined, -3 no session.
var scriptJoin = script(`
if redis.call('EXISTS', KEYS[3]) == 0 then return -3 end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return -1 end
local cur = redis.call('HGET', KEYS[2], ARGV[3])
if cur then
  if cur == ARGV[4] .. ARGV[5] then return 1 end
  local osid = string.sub(cur, 1, 32)
  if alive(osid) then return -2 end
  reap(osid)
  if redis.call('HGET', KEYS[2], ARGV[3]) then
    redis.call('HDEL', KEYS[2], ARGV[3])
    event(ARGV[2], 'L', ARGV[3])
  end
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4] .. ARGV[5])
redis.call('HSET', KEYS[4], 'm' .. ARGV[2], ARGV[3])
event(ARGV[2], 'j', ARGV[3], ARGV[4] .. ARGV[5])
return 1
`)

// scriptLeave: KEYS groups, group, session, index; ARGV P, group, member,
// sid. 1 left, -1 not created, -2 not joined, -3 no session.
var scriptLeave = script(`
if redis.call('EXISTS', KEYS[3]) == 0 then return -3 end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return -1 end
local cur = redis.call('HGET', KEYS[2], ARGV[3])
if not cur or string.sub(cur, 1, 32) ~= ARGV[4] then return -2 end
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('HDEL', KEYS[4], 'm' .. ARGV[2])
event(ARGV[2], 'L', ARGV[3])
return 1
`)

// scriptMembers: KEYS groups, group; ARGV P, group. {-1} not created, else
// {seq of the last event, {member, value, ...}}. Dead members are reaped
// first (with their events), so the listing shows only live ones.
var scriptMembers = script(`
local last = redis.call('HGET', KEYS[1], ARGV[2])
if not last then return {-1} end
if reap_dead_members(KEYS[2]) then last = redis.call('HGET', KEYS[1], ARGV[2]) or '0' end
return {last, redis.call('HGETALL', KEYS[2])}
`)

// scriptMemberInfo: KEYS groups, group; ARGV P, group, member. {-1} not
// created, {-2} not joined, {1, value}.
var scriptMemberInfo = script(`
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return {-1} end
local cur = redis.call('HGET', KEYS[2], ARGV[3])
if cur and not alive(string.sub(cur, 1, 32)) then
  reap_dead_members(KEYS[2])
  cur = redis.call('HGET', KEYS[2], ARGV[3])
end
if not cur then return {-2} end
return {1, cur}
`)

// scriptUpdate: KEYS groups, group, session; ARGV P, group, member, sid,
// record. It keeps the stored joined-at time (bytes 4-11 of a record).
var scriptUpdate = script(`
if redis.call('EXISTS', KEYS[3]) == 0 then return -3 end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return -1 end
local cur = redis.call('HGET', KEYS[2], ARGV[3])
if not cur or string.sub(cur, 1, 32) ~= ARGV[4] then return -2 end
local new = ARGV[5]
if string.len(cur) >= 51 and string.sub(cur, 33, 35) == string.sub(new, 1, 3) then
  new = string.sub(new, 1, 3) .. string.sub(cur, 36, 43) .. string.sub(new, 12)
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4] .. new)
event(ARGV[2], 'U', ARGV[3], ARGV[4] .. new)
return 1
`)

// scriptAcquire: KEYS lock, session, index; ARGV P, tok, sid, cid, ttl ms,
// member, wait (1|0), queue entry. {-1} no session, {1, fence} acquired,
// {0, pttl of the lock, queue position (0: not queued)}, {-4} the holder's
// session is dead (codeHolderDead).
var scriptAcquire = script(acquireSrc)

const acquireSrc = `
local lk = KEYS[1]
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
-- Nobody holds it and nobody waits: one look for both, the uncontended
-- path's only read of the lock.
local free = redis.call('EXISTS', lk, lk .. ':q') == 0
if not free then
  local cur = redis.call('HGET', lk, 'tok')
  if cur == ARGV[2] then
    redis.call('PEXPIRE', lk, ARGV[5])
    return {1, redis.call('HGET', lk, 'fence')}
  end
  if not cur and redis.call('EXISTS', lk) == 0 then
    free = not promote(lk) -- check_holder's work for a lock nobody holds
  elseif holder_dead(lk) then
    return {-4}
  end -- else lk exists: held, or damaged (no tok)
end
if free then
  local f = grant(lk, ARGV[2], ARGV[3], ARGV[5], ARGV[6])
  redis.call('HSET', KEYS[3], 'c' .. ARGV[2], lk)
  return {1, f}
end
if ARGV[7] == '1' then
  local q = lk .. ':q'
  redis.call('LREM', q, 0, ARGV[8])
  local n = redis.call('RPUSH', q, ARGV[8])
  redis.call('HSET', KEYS[3], 'c' .. ARGV[2], lk)
  return {0, redis.call('PTTL', lk), n}
end
return {0, redis.call('PTTL', lk), 0}
`

// scriptPoll: KEYS lock, session; ARGV P, tok, queue entry, ttl ms. Like
// scriptAcquire's answers, plus {-2}: not queued any more. A waiter that
// finds itself the holder refreshes the TTL, so that its local deadline can
// count from this call.
var scriptPoll = script(pollSrc)

const pollSrc = `
local lk = KEYS[1]
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
if redis.call('HGET', lk, 'tok') ~= ARGV[2] then
  if holder_dead(lk) then return {-4} end
  if redis.call('EXISTS', lk) == 0 then promote(lk) end
end
if redis.call('HGET', lk, 'tok') == ARGV[2] then
  redis.call('PEXPIRE', lk, ARGV[4])
  return {1, redis.call('HGET', lk, 'fence')}
end
local es = redis.call('LRANGE', lk .. ':q', 0, -1)
for i, e in ipairs(es) do
  if e == ARGV[3] then return {0, redis.call('PTTL', lk), i} end
end
return {-2}
`

// scriptDrop: KEYS lock, index; ARGV P, tok, queue entry (or ""). Releases
// the lock if tok holds it (1), else withdraws the queue entry (0).
var scriptDrop = script(dropSrc)

const dropSrc = `
local r = 0
if redis.call('HGET', KEYS[1], 'tok') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  free(KEYS[1])
  r = 1
elseif ARGV[3] ~= '' then
  redis.call('LREM', KEYS[1] .. ':q', 1, ARGV[3])
end
redis.call('HDEL', KEYS[2], 'c' .. ARGV[2])
return r
`

// scriptFreeDeadHolder: KEYS lock; ARGV P. Reaps the session of lk's
// holder if it is dead, which frees lk and hands it to its first live
// waiter (see holder_dead).
var scriptFreeDeadHolder = script(`
check_holder(KEYS[1])
return 1
`)

// scriptOwnerDeadline: KEYS lock; ARGV P. Milliseconds until the
// holder's lock or session expires (whichever first), or -2 when the lock
// is free: the moment an owner watch must look again, since an expiry is
// pushed to nobody.
var scriptOwnerDeadline = script(`
local sid = redis.call('HGET', KEYS[1], 'sid')
if not sid then return -2 end
local a, b = redis.call('PTTL', KEYS[1]), redis.call('PTTL', skey(sid))
if a < 0 or b < 0 then return 0 end
return math.min(a, b)
`)

// scriptOwner: KEYS lock; ARGV P. The holder's member ID, nil, or -4
// (codeHolderDead). Leader watches run it at every change.
var scriptOwner = script(ownerSrc)

const ownerSrc = `
if holder_dead(KEYS[1]) then return -4 end
if redis.call('EXISTS', KEYS[1]) == 0 then promote(KEYS[1]) end
return redis.call('HGET', KEYS[1], 'mem')
`
