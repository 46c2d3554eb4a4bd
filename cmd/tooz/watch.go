// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/toozgo/tooz"
)

var watchCommand = &command{
	name:    "watch",
	args:    "GROUP",
	summary: "print GROUP's join, leave and leader events as they happen",
	details: `
Prints one line per event on stdout until interrupted (then exits 0):

  2025-01-02 15:04:05.123  joined     MEMBER
  2025-01-02 15:04:06.456  left       MEMBER
  2025-01-02 15:04:06.789  leader     MEMBER
  2025-01-02 15:04:07.012  no-leader

With --json each event is a JSON object: {"time", "group", "event",
"member"}, where "event" is "joined", "left", "leader" or "no_leader"; the
first line is {"event": "watching", "members": [...], "leader": ...}, the
state the events start from (without --json, that state goes to stderr).

Joins, leaves and leader changes are pushed by the backend (no polling).`,
	example: `
tooz watch workers
tooz watch workers --json | while read -r ev; do echo "$ev" | jq -r .event; done`,
	run: runWatch,
}

type watchEvent struct {
	Time   time.Time
	Event  string // joined, left, leader, no_leader
	Member string
}

func runWatch(a *app, me *command, args []string) error {
	pos, err := a.parseArgs(me, args, "GROUP")
	if err != nil {
		return err
	}
	group := pos[0]
	c, err := a.open()
	if err != nil {
		return err
	}
	defer a.close(c)

	events := make(chan watchEvent, 64)
	send := func(ev watchEvent) {
		select {
		case events <- ev:
		case <-a.ctx.Done():
		}
	}
	ctx, cancel := a.request()
	jw, err := c.WatchJoinGroup(ctx, group, func(e tooz.MemberJoined) {
		send(watchEvent{Time: time.Now(), Event: "joined", Member: e.Member})
	})
	if err == nil {
		defer jw.Stop()
		var lw *tooz.Watch
		lw, err = c.WatchLeaveGroup(ctx, group, func(e tooz.MemberLeft) {
			send(watchEvent{Time: time.Now(), Event: "left", Member: e.Member})
		})
		if err == nil {
			defer lw.Stop()
		}
	}
	if err != nil {
		cancel()
		return a.requestError(err)
	}
	infos, err := c.MembersInfo(ctx, group)
	exists := true
	if errors.Is(err, tooz.ErrGroupNotCreated) {
		exists, err = false, nil
	}
	if err != nil {
		cancel()
		return a.requestError(err)
	}
	// The first call, before WatchLeader returns, is the current leader;
	// the others are changes.
	var leader string
	started := false
	ldw, err := c.WatchLeader(ctx, group, func(e tooz.LeaderChanged) {
		switch {
		case !started:
			leader, started = e.Leader, true
		case e.Leader == "":
			send(watchEvent{Time: time.Now(), Event: "no_leader"})
		default:
			send(watchEvent{Time: time.Now(), Event: "leader", Member: e.Leader})
		}
	})
	cancel()
	if err != nil {
		return a.requestError(err)
	}
	defer ldw.Stop()
	members := make([]string, 0, len(infos))
	for _, m := range infos {
		members = append(members, m.ID)
	}
	a.watching(group, exists, members, leader)

	for {
		select {
		case <-a.ctx.Done():
			return nil
		case ev := <-events:
			a.printEvent(group, ev)
		}
	}
}

// watching reports the state the events start from.
func (a *app) watching(group string, exists bool, members []string, leader string) {
	if a.json {
		m := map[string]any{"time": time.Now().Format(time.RFC3339Nano), "event": "watching", "group": group,
			"exists": exists, "members": members, "leader": nil}
		if leader != "" {
			m["leader"] = leader
		}
		a.emitJSON(a.stdout, m)
		return
	}
	var state string
	switch {
	case !exists:
		state = "not created yet"
	case len(members) == 0:
		state = "no members"
	default:
		shown := make([]string, len(members))
		for i, m := range members {
			shown[i] = displayID(m)
		}
		state = "members: " + strings.Join(shown, ", ")
	}
	if leader == "" {
		state += "; no leader"
	} else {
		state += "; leader: " + displayID(leader)
	}
	a.println(a.stderr, fmt.Sprintf("tooz: watching group %q (%s); Ctrl-C to stop", group, state))
}

func (a *app) printEvent(group string, ev watchEvent) {
	if a.json {
		m := map[string]any{"time": ev.Time.Format(time.RFC3339Nano), "group": group, "event": ev.Event}
		if ev.Member != "" {
			m["member"] = ev.Member
		}
		a.emitJSON(a.stdout, m)
		return
	}
	name := strings.ReplaceAll(ev.Event, "_", "-")
	line := fmt.Sprintf("%s  %-9s  %s", ev.Time.Format("2006-01-02 15:04:05.000"), name, displayID(ev.Member))
	a.println(a.stdout, strings.TrimRight(line, " "))
}
