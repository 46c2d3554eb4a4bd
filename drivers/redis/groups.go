// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/membersink"
	"github.com/toozgo/tooz/internal/record"
)

// sidLen is the length of a session ID, stored before every member record.
const sidLen = 32

// CreateGroup implements tooz.CoordinationDriver.
func (c *conn) CreateGroup(ctx context.Context, group string) error {
	if _, err := c.current(); err != nil {
		return err
	}
	r, err := c.run(ctx, scriptCreateGroup, []string{c.groupsKey()}, c.p, keyspace.Escape(group)).Int64()
	if err != nil {
		return c.mapErr(ctx, err)
	}
	if r == 0 {
		return tooz.ErrGroupAlreadyExists
	}
	return nil
}

// DeleteGroup implements tooz.CoordinationDriver. Members whose session
// expired are reaped first, so only live members keep a group.
func (c *conn) DeleteGroup(ctx context.Context, group string) error {
	if _, err := c.current(); err != nil {
		return err
	}
	eg := keyspace.Escape(group)
	r, err := c.run(ctx, scriptDeleteGroup, []string{c.groupsKey(), c.gkey(eg)}, c.p, eg).Int64()
	if err != nil {
		return c.mapErr(ctx, err)
	}
	switch r {
	case -1:
		return tooz.ErrGroupNotCreated
	case -2:
		return tooz.ErrGroupNotEmpty
	}
	return nil
}

// Groups implements tooz.CoordinationDriver.
func (c *conn) Groups(ctx context.Context) ([]string, error) {
	if _, err := c.current(); err != nil {
		return nil, err
	}
	fields, err := c.rdb.HKeys(ctx, c.groupsKey()).Result()
	if err != nil {
		return nil, c.mapErr(ctx, err)
	}
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		g, err := keyspace.Unescape(f)
		if err != nil {
			c.log.Warn("tooz/redis: ignoring a group field that tooz did not write", "field", f)
			continue
		}
		out = append(out, g)
	}
	return out, nil
}

// JoinGroup implements tooz.CoordinationDriver.
func (c *conn) JoinGroup(ctx context.Context, group string, caps []byte) error {
	sid, err := c.current()
	if err != nil {
		return err
	}
	eg := keyspace.Escape(group)
	now := time.Now()
	rec := record.Encode(record.Member{Capabilities: caps, JoinedAt: now, UpdatedAt: now})
	r, err := c.run(ctx, scriptJoin, []string{c.groupsKey(), c.gkey(eg), c.skey(sid), c.ikey(sid)},
		c.p, eg, c.member, sid, rec).Int64()
	if err != nil {
		return c.mapErr(ctx, err)
	}
	return joinResult(r)
}

func joinResult(r int64) error {
	switch r {
	case 1:
		return nil
	case -1:
		return tooz.ErrGroupNotCreated
	case -2:
		return tooz.ErrMemberAlreadyJoined
	case -3:
		return errSessionGone
	}
	return fmt.Errorf("unexpected script answer %d", r)
}

// LeaveGroup implements tooz.CoordinationDriver.
func (c *conn) LeaveGroup(ctx context.Context, group string) error {
	sid, err := c.current()
	if err != nil {
		return err
	}
	eg := keyspace.Escape(group)
	r, err := c.run(ctx, scriptLeave, []string{c.groupsKey(), c.gkey(eg), c.skey(sid), c.ikey(sid)},
		c.p, eg, c.member, sid).Int64()
	if err != nil {
		return c.mapErr(ctx, err)
	}
	if r == -2 {
		return tooz.ErrMemberNotJoined
	}
	return joinResult(r)
}

// UpdateCapabilities implements tooz.CoordinationDriver.
func (c *conn) UpdateCapabilities(ctx context.Context, group string, caps []byte) error {
	sid, err := c.current()
	if err != nil {
		return err
	}
	eg := keyspace.Escape(group)
	now := time.Now()
	rec := record.Encode(record.Member{Capabilities: caps, JoinedAt: now, UpdatedAt: now})
	r, err := c.run(ctx, scriptUpdate, []string{c.groupsKey(), c.gkey(eg), c.skey(sid)},
		c.p, eg, c.member, sid, rec).Int64()
	if err != nil {
		return c.mapErr(ctx, err)
	}
	if r == -2 {
		return tooz.ErrMemberNotJoined
	}
	return joinResult(r)
}

// Members implements tooz.CoordinationDriver: one script, which also reaps
// members whose session expired.
func (c *conn) Members(ctx context.Context, group string) ([]tooz.MemberInfo, error) {
	if _, err := c.current(); err != nil {
		return nil, err
	}
	_, infos, err := c.list(ctx, keyspace.Escape(group))
	return infos, err
}

// list returns the group's last event sequence number and its members.
func (c *conn) list(ctx context.Context, eg string) (int64, []tooz.MemberInfo, error) {
	v, err := c.run(ctx, scriptMembers, []string{c.groupsKey(), c.gkey(eg)}, c.p, eg).Slice()
	if err != nil {
		return 0, nil, c.mapErr(ctx, err)
	}
	if len(v) == 1 {
		return 0, nil, tooz.ErrGroupNotCreated
	}
	if len(v) != 2 {
		return 0, nil, fmt.Errorf("unexpected members reply of %d values", len(v))
	}
	last, err := toInt(v[0])
	if err != nil {
		return 0, nil, err
	}
	pairs, _ := v[1].([]any)
	infos := make([]tooz.MemberInfo, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		id, _ := pairs[i].(string)
		val, _ := pairs[i+1].(string)
		info, ok := c.decodeMember(eg, id, val)
		if ok {
			infos = append(infos, info)
		}
	}
	return last, infos, nil
}

func (c *conn) decodeMember(eg, id, val string) (tooz.MemberInfo, bool) {
	if len(val) < sidLen || tooz.ValidateID(id) != nil { // the field is the raw member ID
		c.log.Warn("tooz/redis: ignoring a member entry that tooz did not write", "group", eg, "member", id)
		return tooz.MemberInfo{}, false
	}
	m, err := record.Decode([]byte(val[sidLen:]))
	if err != nil {
		c.log.Warn("tooz/redis: ignoring a member entry that tooz did not write", "group", eg, "member", id, "err", err)
		return tooz.MemberInfo{}, false
	}
	return tooz.MemberInfo{ID: id, Capabilities: m.Capabilities, JoinedAt: m.JoinedAt, UpdatedAt: m.UpdatedAt, Incarnation: val[:sidLen]}, true
}

// MemberInfo implements tooz.CoordinationDriver.
func (c *conn) MemberInfo(ctx context.Context, group, member string) (tooz.MemberInfo, error) {
	if _, err := c.current(); err != nil {
		return tooz.MemberInfo{}, err
	}
	eg := keyspace.Escape(group)
	v, err := c.run(ctx, scriptMemberInfo, []string{c.groupsKey(), c.gkey(eg)}, c.p, eg, member).Slice()
	if err != nil {
		return tooz.MemberInfo{}, c.mapErr(ctx, err)
	}
	code, _ := toInt(v[0])
	switch {
	case code == -1:
		return tooz.MemberInfo{}, tooz.ErrGroupNotCreated
	case code == -2 || len(v) != 2:
		return tooz.MemberInfo{}, tooz.ErrMemberNotJoined
	}
	val, _ := v[1].(string)
	info, ok := c.decodeMember(eg, member, val)
	if !ok {
		return tooz.MemberInfo{}, fmt.Errorf("%w: the stored entry was not written by tooz", tooz.ErrMemberNotJoined)
	}
	return info, nil
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("unexpected reply %T", v)
}

// WatchGroup implements tooz.CoordinationDriver with pub/sub: it subscribes
// to the group's channel, lists the group once the subscription is
// confirmed, and then applies the published events. Every event carries
// its sequence number and the group's previous one: an event that is older
// than the listing is skipped, and a gap (a message lost, a reconnect)
// makes the watch list the group again and call Reset.
func (c *conn) WatchGroup(ctx context.Context, group string, sink tooz.GroupSink) (func(), error) {
	return c.WatchMembers(ctx, group, membersink.Legacy(sink))
}

// WatchMembers implements tooz.MemberWatcher, as WatchGroup; joins and
// updates carry the member's record, so no event needs a read.
func (c *conn) WatchMembers(ctx context.Context, group string, sink tooz.MemberSink) (func(), error) {
	eg := keyspace.Escape(group)
	return c.watchSeq(ctx, c.gchan(eg), "group "+eg,
		func(ctx context.Context) (int64, func(), error) {
			last, infos, err := c.list(ctx, eg)
			if err != nil && err != tooz.ErrGroupNotCreated {
				return 0, nil, err
			}
			return last, func() { sink.Snapshot(infos, uint64(max(last, 0))) }, nil
		},
		func(rest string, seq int64) { c.groupEvent(eg, sink, rest, seq) })
}

// groupEvent applies a group event after its sequence numbers: "kind
// member", or for j and U "kind len(member) member+sid+record". An older
// tooz publishes a join as "J member", without the record.
func (c *conn) groupEvent(eg string, sink tooz.MemberSink, rest string, seq int64) {
	kind, body, ok := strings.Cut(rest, " ")
	if !ok {
		c.log.Warn("tooz/redis: ignoring a group event that tooz did not publish", "group", eg)
		return
	}
	switch kind {
	case "J": // from an older tooz: the ID alone
		if tooz.ValidateID(body) == nil {
			sink.Joined(tooz.MemberInfo{ID: body}, uint64(seq))
		}
	case "j", "U":
		info, ok := c.memberOf(eg, body)
		if !ok {
			return // a record tooz would not list is no event
		}
		if kind == "j" {
			sink.Joined(info, uint64(seq))
		} else {
			sink.Updated(info, uint64(seq))
		}
	case "L":
		sink.Left(body, uint64(seq))
	}
}

// memberOf decodes "len(member) member+value", value being the stored
// member entry (session ID and record).
func (c *conn) memberOf(eg, body string) (tooz.MemberInfo, bool) {
	sp := strings.IndexByte(body, ' ')
	n, err := strconv.Atoi(body[:max(sp, 0)])
	if sp < 0 || err != nil || n < 0 || n > len(body)-sp-1 {
		c.log.Warn("tooz/redis: ignoring a group event that tooz did not publish", "group", eg)
		return tooz.MemberInfo{}, false
	}
	return c.decodeMember(eg, body[sp+1:sp+1+n], body[sp+1+n:])
}
