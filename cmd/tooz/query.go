// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/toozgo/tooz"
)

var groupsCommand = &command{
	name:    "groups",
	summary: "list groups with their member count and leader",
	example: `
tooz groups
tooz --url etcd://10.0.0.1:2379 groups --json`,
	run: runGroups,
}

var membersCommand = &command{
	name:    "members",
	args:    "GROUP",
	summary: "list GROUP's members with their capabilities and join times",
	details: `
With --json, "capabilities" holds the capabilities when they are JSON (as
'tooz join --capabilities' stores them), else "capabilities_base64" holds
the raw bytes.`,
	example: `
tooz members workers
tooz members workers --json | jq -r '.[] | select(.capabilities.zone == "a") | .member'`,
	run: runMembers,
}

var leaderCommand = &command{
	name:    "leader",
	args:    "GROUP",
	summary: "print GROUP's leader (status 1 when it has none)",
	details: `
Prints the member that leads GROUP. With --watch it keeps running until
interrupted (then exits 0) and prints the leader first, then again on every
change, pushed by the backend: one line each, empty when the group has no
leader; with --json one object per line, {"time", "group", "leader"}, the
leader null when there is none.`,
	example: `
if [ "$(tooz leader schedulers)" = "$(hostname)-1234" ]; then echo "we lead"; fi
tooz leader schedulers --watch --json`,
	run: runLeader,
}

// parseArgs parses the options of a command that takes the positional
// arguments want (each a group or member name) and nothing else.
func (a *app) parseArgs(c *command, args []string, want ...string) ([]string, error) {
	pos, argv, err := a.parseCommand(c, args)
	if err != nil {
		return nil, err
	}
	pos = append(pos, argv...)
	if len(pos) != len(want) {
		if len(pos) < len(want) {
			return nil, usageError(c.name, "tooz %s: missing the %s", c.name, want[len(pos)])
		}
		return nil, usageError(c.name, "tooz %s: unexpected argument %q", c.name, pos[len(want)])
	}
	for i, p := range pos {
		if err := tooz.ValidateID(p); err != nil {
			return nil, usageError(c.name, "tooz %s: bad %s name: %v", c.name, strings.ToLower(want[i]), err)
		}
	}
	return pos, nil
}

type groupRow struct {
	Group   string  `json:"group"`
	Members int     `json:"members"`
	Leader  *string `json:"leader"`
}

func runGroups(a *app, me *command, args []string) error {
	if _, err := a.parseArgs(me, args); err != nil {
		return err
	}
	ctx, c, done, err := a.openRequest()
	if err != nil {
		return err
	}
	defer done()
	groups, err := c.Groups(ctx)
	if err != nil {
		return a.requestError(err)
	}
	rows := []groupRow{}
	for _, g := range groups {
		ms, err := c.Members(ctx, g)
		if errors.Is(err, tooz.ErrGroupNotCreated) {
			continue // deleted meanwhile
		}
		if err != nil {
			return a.requestError(err)
		}
		row := groupRow{Group: g, Members: len(ms)}
		leader, err := c.Leader(ctx, g)
		switch {
		case err == nil:
			row.Leader = &leader
		case !errors.Is(err, tooz.ErrNoLeader):
			return a.requestError(err)
		}
		rows = append(rows, row)
	}
	if a.json {
		a.emitJSON(a.stdout, rows)
		return nil
	}
	if len(rows) == 0 {
		a.println(a.stderr, "tooz: no groups")
		return nil
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "GROUP\tMEMBERS\tLEADER")
	for _, r := range rows {
		leader := "-"
		if r.Leader != nil {
			leader = displayID(*r.Leader)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", displayID(r.Group), r.Members, leader)
	}
	return tw.Flush()
}

type memberRow struct {
	Member             string          `json:"member"`
	JoinedAt           *time.Time      `json:"joined_at,omitempty"`
	UpdatedAt          *time.Time      `json:"updated_at,omitempty"`
	Capabilities       json.RawMessage `json:"capabilities,omitempty"`
	CapabilitiesBase64 string          `json:"capabilities_base64,omitempty"`
}

func runMembers(a *app, me *command, args []string) error {
	pos, err := a.parseArgs(me, args, "GROUP")
	if err != nil {
		return err
	}
	group := pos[0]
	ctx, c, done, err := a.openRequest()
	if err != nil {
		return err
	}
	defer done()
	infos, err := c.MembersInfo(ctx, group)
	if errors.Is(err, tooz.ErrGroupNotCreated) {
		return exitf(exitFailure, "tooz: group %q does not exist", group)
	}
	if err != nil {
		return a.requestError(err)
	}
	if a.json {
		rows := make([]memberRow, 0, len(infos))
		for _, m := range infos {
			r := memberRow{Member: m.ID, JoinedAt: timePtr(m.JoinedAt), UpdatedAt: timePtr(m.UpdatedAt)}
			if len(m.Capabilities) > 0 {
				if json.Valid(m.Capabilities) {
					r.Capabilities = m.Capabilities
				} else {
					r.CapabilitiesBase64 = base64.StdEncoding.EncodeToString(m.Capabilities)
				}
			}
			rows = append(rows, r)
		}
		a.emitJSON(a.stdout, rows)
		return nil
	}
	if len(infos) == 0 {
		a.println(a.stderr, fmt.Sprintf("tooz: group %q has no members", group))
		return nil
	}
	now := time.Now()
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "MEMBER\tJOINED\tUPDATED\tCAPABILITIES")
	for _, m := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", displayID(m.ID), ago(now, m.JoinedAt), ago(now, m.UpdatedAt), displayCapabilities(m.Capabilities))
	}
	return tw.Flush()
}

func runLeader(a *app, me *command, args []string) error {
	pos, err := a.parseArgs(me, args, "GROUP")
	if err != nil {
		return err
	}
	if a.watchLeader {
		return watchLeader(a, pos[0])
	}
	return printHolder(a, pos[0], holderQuery{
		key: "group", field: "leader", none: tooz.ErrNoLeader, noneMsg: "group %q has no leader",
		holder: func(ctx context.Context, c *tooz.Coordinator, group string) (string, error) {
			return c.Leader(ctx, group)
		},
	})
}

// holderQuery describes a "who holds NAME" command: tooz leader, tooz owner.
type holderQuery struct {
	key, field string // NAME's and the holder's JSON keys
	none       error  // what holder returns when nobody holds NAME
	noneMsg    string // the error printed then, with NAME quoted
	holder     func(ctx context.Context, c *tooz.Coordinator, name string) (string, error)
}

// printHolder prints the member holding name, or exits 1 when nobody does.
func printHolder(a *app, name string, q holderQuery) error {
	ctx, c, done, err := a.openRequest()
	if err != nil {
		return err
	}
	defer done()
	holder, err := q.holder(ctx, c, name)
	if errors.Is(err, q.none) {
		if a.json {
			a.emitJSON(a.stdout, map[string]any{q.key: name, q.field: nil})
		}
		return exitf(exitFailure, "tooz: "+q.noneMsg, name)
	}
	if err != nil {
		return a.requestError(err)
	}
	if a.json {
		a.emitJSON(a.stdout, map[string]any{q.key: name, q.field: holder})
		return nil
	}
	a.println(a.stdout, holder)
	return nil
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// displayID shows an ID as it is, or quoted when it holds spaces or
// characters that would break a table.
func displayID(s string) string {
	for _, r := range s {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

// maxCapabilitiesShown is how many characters of capabilities a table shows.
const maxCapabilitiesShown = 60

// displayCapabilities shows capabilities in a table cell: compact JSON,
// text, or a byte count for binary data.
func displayCapabilities(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	var s string
	var buf bytes.Buffer
	switch {
	case json.Valid(b) && json.Compact(&buf, b) == nil:
		s = buf.String()
	case utf8.Valid(b):
		s = displayID(string(b))
	default:
		return fmt.Sprintf("(%d bytes, binary)", len(b))
	}
	if utf8.RuneCountInString(s) > maxCapabilitiesShown {
		r := []rune(s)
		s = string(r[:maxCapabilitiesShown-1]) + "…"
	}
	return s
}

// ago shows how long before now t was: "12s ago", "3m4s ago", "2h5m ago", "3d4h ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < time.Second {
		return "just now"
	}
	return shortDuration(d) + " ago"
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// watchLeader prints group's leader, then every change, until interrupted.
func watchLeader(a *app, group string) error {
	return follow(a, func(ctx context.Context, c *tooz.Coordinator, fn func(tooz.LeaderChanged)) (*tooz.Watch, error) {
		return c.WatchLeader(ctx, group, fn)
	}, func(e tooz.LeaderChanged) {
		if a.json {
			var leader any
			if e.Leader != "" {
				leader = e.Leader
			}
			a.emitJSON(a.stdout, map[string]any{"time": time.Now().Format(time.RFC3339Nano), "group": group, "leader": leader})
			return
		}
		a.println(a.stdout, e.Leader)
	})
}

// follow opens the coordinator, starts a watch whose calls reach this
// goroutine, and shows each event until interrupted.
func follow[E any](a *app, start func(context.Context, *tooz.Coordinator, func(E)) (*tooz.Watch, error), show func(E)) error {
	c, err := a.open()
	if err != nil {
		return err
	}
	defer a.close(c)
	events := make(chan E, 64)
	ctx, cancel := a.request()
	w, err := start(ctx, c, func(e E) {
		select {
		case events <- e:
		case <-a.ctx.Done():
		}
	})
	cancel()
	if err != nil {
		return a.requestError(err)
	}
	defer w.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return nil
		case e := <-events:
			show(e)
		}
	}
}
