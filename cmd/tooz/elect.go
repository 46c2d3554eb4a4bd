// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/toozgo/tooz"
)

var electCommand = &command{
	name:    "elect",
	args:    "GROUP -- CMD [ARGS...]",
	summary: "run CMD while this process leads GROUP",
	details: `
Campaigns for the leadership of GROUP (joining it too, unless --join=false),
and once elected runs CMD with TOOZ_FENCING_TOKEN (strictly greater than every
earlier leader's) and TOOZ_GROUP in its environment. When CMD exits, tooz
resigns and exits with CMD's status. With --no-wait it gives up at once
(exit 4) when another member leads. With --priority N the highest-priority
candidate wins whenever the leadership is free, and with --preempt it takes
the leadership from a leader of lower priority (whose command is then
stopped as on a lost leadership). With --standby it stands down instead,
keeps out of the election for --hold-off (another candidate takes over
meanwhile), then campaigns again and runs CMD again whenever it is
elected, until interrupted (then it exits 0).

If the leadership is lost while CMD runs, CMD's process group gets SIGTERM,
then SIGKILL after --grace, and tooz exits with status 5 (with --standby it
campaigns again instead). SIGINT, SIGTERM and SIGHUP sent to tooz are
forwarded to CMD; the leadership is given up once CMD has ended.`,
	example: `
# one scheduler at a time; the others stand by and take over within the
# liveness timeout if the leader's host dies
tooz --url etcd://10.0.0.1:2379 elect schedulers --standby -- ./scheduler`,
	run: runElect,
}

func runElect(a *app, me *command, args []string) error {
	group, argv, err := a.nameAndCommand(me, args, "group", "GROUP")
	if err != nil {
		return err
	}
	switch {
	case a.standby && a.wait > 0:
		return usageError("elect", "tooz elect: --wait and --standby exclude each other")
	case a.noWait && a.wait > 0:
		return usageError("elect", "tooz elect: --no-wait and --wait exclude each other")
	case a.noWait && a.standby:
		return usageError("elect", "tooz elect: --no-wait and --standby exclude each other")
	case a.priority < 0 || a.priority > tooz.MaxPriority:
		return usageError("elect", "tooz elect: --priority %d: must be between 0 and %d", a.priority, tooz.MaxPriority)
	case a.preempt && !a.set["priority"]:
		return usageError("elect", "tooz elect: --preempt needs --priority")
	case a.set["hold-off"] && a.set["restart-delay"]:
		return usageError("elect", "tooz elect: --hold-off and --restart-delay are one option; give one")
	case a.capabilities != "" && !a.join:
		return usageError("elect", "tooz elect: --capabilities needs --join")
	}
	if err := a.checkExitCodes("elect"); err != nil {
		return err
	}
	if err := tooz.ValidateID(group); err != nil {
		return usageError("elect", "tooz elect: bad group name: %v", err)
	}
	caps, err := parseCapabilities("elect", a.capabilities)
	if err != nil {
		return err
	}
	path, err := lookCommand(argv)
	if err != nil {
		return err
	}
	c, err := a.open()
	if err != nil {
		return err
	}
	defer a.close(c)
	if a.join {
		ctx, cancel := a.request()
		err := c.JoinGroupCreate(ctx, group, caps)
		cancel()
		if err != nil {
			return a.requestError(err)
		}
	}

	for {
		lead, err := a.campaign(c, group)
		if err != nil {
			if a.standby && a.signals.received() != nil {
				return nil // interrupted while standing by: the normal way to stop
			}
			return err
		}
		token := lead.FencingToken()
		a.info("elected", map[string]any{"group": group, "member": c.MemberID(), "fencing_token": token},
			fmt.Sprintf("elected leader of group %q (fencing token %d)", group, token))
		env := []string{"TOOZ_FENCING_TOKEN=" + strconv.FormatUint(token, 10), "TOOZ_GROUP=" + group}
		out, err := a.runChild(path, argv, env, lead.Lost(), func() {
			a.warn("lost", map[string]any{"group": group, "grace": a.grace.String()},
				fmt.Sprintf("leadership of group %q lost while the command ran; stopping it (SIGTERM, then SIGKILL after %v)", group, a.grace))
		})
		if err != nil {
			a.resign(lead)
			return err
		}
		if out.lost {
			if !a.standby || a.signals.received() != nil {
				return exitf(exitLost, "tooz: leadership of group %q was lost while the command ran (another process may lead now); %s",
					group, a.stopDescription(out))
			}
			a.warn("standby", map[string]any{"group": group, "exit_code": out.status},
				fmt.Sprintf("%s; campaigning again", a.stopDescription(out)))
			continue
		}
		var err2 error
		if a.standby && a.signals.received() == nil {
			// Other candidates take over while this one holds off; the
			// next Campaign waits for the hold-off to pass.
			err2 = a.standDown(c, group)
		} else {
			err2 = a.resign(lead)
		}
		if errors.Is(err2, tooz.ErrNotLeader) {
			return exitf(exitLost, "tooz: leadership of group %q was lost by the time the command ended (the command %s); its work may have overlapped another leader's",
				group, out.how)
		}
		if !a.standby {
			a.info("resigned", map[string]any{"group": group, "exit_code": out.status},
				fmt.Sprintf("resigned the leadership of group %q; the command %s", group, out.how))
			return childExit(out)
		}
		if a.signals.received() != nil {
			return nil
		}
		a.info("standby", map[string]any{"group": group, "exit_code": out.status, "hold_off": a.restartDelay.String()},
			fmt.Sprintf("stood down from group %q (the command %s); campaigning again in %v", group, out.how, a.restartDelay))
	}
}

// standDown gives the leadership of group up with the --hold-off, on a
// context of its own.
func (a *app) standDown(c *tooz.Coordinator, group string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := c.StandDown(ctx, group, tooz.HoldOff(a.restartDelay))
	if err != nil && !errors.Is(err, tooz.ErrNotLeader) {
		a.warn("stand_down_failed", map[string]any{"group": group, "error": err.Error()},
			fmt.Sprintf("standing down from group %q: %v (the leadership ends when this member's liveness expires)", group, err))
	}
	return err
}

// campaign waits until this member leads group, for --wait at most.
func (a *app) campaign(c *tooz.Coordinator, group string) (*tooz.Leadership, error) {
	wctx, cancel := a.ctx, context.CancelFunc(func() {})
	if a.wait > 0 {
		wctx, cancel = context.WithTimeout(a.ctx, a.wait)
	}
	defer cancel()
	if leader := a.currentLeader(c, group); leader != "" && leader != c.MemberID() {
		a.notice(a.verbose || stderrIsTerminal(), "waiting", map[string]any{"group": group, "leader": leader},
			fmt.Sprintf("waiting to lead group %q, led by %q", group, leader))
	}
	campaign := c.Campaign
	if a.noWait {
		campaign = c.TryCampaign
	}
	var opts []tooz.CampaignOption
	if a.set["priority"] {
		opts = append(opts, tooz.Priority(a.priority))
	}
	if a.preempt {
		opts = append(opts, tooz.Preempt())
	}
	lead, err := campaign(wctx, group, opts...)
	switch {
	case err == nil:
		return lead, nil
	case a.signals.received() != nil:
		return nil, interrupted(a.signals.received(), fmt.Sprintf("while waiting to lead group %q", group))
	case errors.Is(err, tooz.ErrNotAcquired):
		leader := a.currentLeader(c, group)
		if leader == "" {
			leader = "nobody"
		} else {
			leader = strconv.Quote(leader)
		}
		if a.noWait {
			return nil, exitf(exitNotAcquired, "tooz: group %q is led by %s; not elected (--no-wait)", group, leader)
		}
		return nil, exitf(exitNotAcquired, "tooz: not elected leader of group %q within --wait %v (led by %s)", group, a.wait, leader)
	}
	return nil, err
}

// currentLeader returns group's leader, or "" when there is none or it cannot be told.
func (a *app) currentLeader(c *tooz.Coordinator, group string) string {
	ctx, cancel := context.WithTimeout(a.ctx, min(a.requestTimeout, 2*time.Second))
	defer cancel()
	leader, err := c.Leader(ctx, group)
	if err != nil {
		return ""
	}
	return leader
}

// resign gives the leadership up on a context of its own.
func (a *app) resign(l *tooz.Leadership) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := l.Resign(ctx)
	if err != nil && !errors.Is(err, tooz.ErrNotLeader) {
		a.warn("resign_failed", map[string]any{"group": l.Group(), "error": err.Error()},
			fmt.Sprintf("resigning the leadership of group %q: %v (it ends when this member's liveness expires)", l.Group(), err))
	}
	return err
}

// parseCapabilities checks that s is JSON and returns its bytes (nil for "").
func parseCapabilities(cmd, s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if !json.Valid([]byte(s)) {
		return nil, usageError(cmd, "tooz %s: --capabilities is not valid JSON: %s", cmd, s)
	}
	if len(s) > tooz.MaxCapabilitiesLength {
		return nil, usageError(cmd, "tooz %s: --capabilities is %d bytes, more than %d", cmd, len(s), tooz.MaxCapabilitiesLength)
	}
	return []byte(s), nil
}
