// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package checker

import (
	"strings"
	"testing"

	"github.com/toozgo/tooz/faults/history"
)

func revoke(proc, res string, at int64) history.Rec {
	return history.Rec{T: at * ms, Proc: proc, Type: history.Nemesis, F: RevokeClient, Res: res}
}

func TestRevokedHolderThatSeesLostPasses(t *testing.T) {
	// a's session is revoked at 500 ms; b takes over at 520; a sees Lost()
	// at 700 and stops; its one write in between is fenced off.
	recs := join(hold("a", 1, 5, 10, 701), hold("b", 1, 6, 520, 1500), []history.Rec{
		revoke("a", "", 500), lost("a", 1, 700),
		write("b", 1, 6, 530, true), write("a", 1, 5, 600, false),
	})
	for _, linear := range []bool{true, false} {
		r := Check(recs, cfg(linear))
		wantChecks(t, r)
		if len(r.Overlaps) != 1 || !strings.Contains(r.Overlaps[0].Explanation, "revoked out of band") ||
			len(r.Revocations) != 1 || len(r.Takeovers) != 1 {
			t.Errorf("want one overlap explained by the revocation, one takeover: %s", r.Summary())
		}
	}
	// A holder that released just after the revocation, before it could
	// hear of it, ended its section within the bound: explained too.
	recs = join(hold("a", 1, 5, 10, 600), hold("b", 1, 6, 520, 1500), []history.Rec{revoke("a", "L", 500)})
	wantChecks(t, Check(recs, cfg(true)))
}

func TestRevokedHolderThatNeverSeesLostFails(t *testing.T) {
	// a's lock is revoked at 500 ms (b enters at 520), but a never sees
	// Lost() and keeps writing at 6000: on every backend a violation.
	recs := join(hold("a", 1, 5, 10, 9000), hold("b", 1, 6, 520, 1500), []history.Rec{
		revoke("a", "L", 500),
		{T: 6000 * ms, Proc: "a", Type: history.Invoke, F: history.FWrite, Res: "L", Acq: 1, Token: 5},
	})
	wantChecks(t, Check(recs, cfg(false)), "overlap", "kept-acting", "lost-signal")
	// Lost() that comes, but later than TTL + slack, is a lost-signal too.
	recs = join(hold("a", 1, 5, 10, 4001), hold("b", 1, 6, 520, 1500), []history.Rec{
		revoke("a", "L", 500), lost("a", 1, 4000),
	})
	wantChecks(t, Check(recs, cfg(false)), "lost-signal")
}

func TestRevokedHolderActingPastLostFails(t *testing.T) {
	// a sees Lost() at 700 ms but stays in its section until 2500, more
	// than slack after it, overlapping b.
	recs := join(hold("a", 1, 5, 10, 2500), hold("b", 1, 6, 520, 3000), []history.Rec{
		revoke("a", "L", 500), lost("a", 1, 700),
	})
	wantChecks(t, Check(recs, cfg(false)), "overlap")
}

func TestRevokedLockNotTakenOverFails(t *testing.T) {
	recs := join(hold("a", 1, 5, 10, 701), hold("b", 1, 6, 5000, 5100), []history.Rec{
		revoke("a", "", 500), lost("a", 1, 700),
	})
	wantChecks(t, Check(recs, cfg(true)), "takeover")
	recs = join(hold("a", 1, 5, 10, 701), []history.Rec{revoke("a", "", 500), lost("a", 1, 700)})
	wantChecks(t, Check(recs, cfg(true)), "takeover")
}

func TestRevocationOfAnotherResourceExplainsNothing(t *testing.T) {
	// Only a's leadership E was revoked, not its lock: the overlap on L
	// stays unexplained.
	recs := join(hold("a", 1, 5, 10, 2000), hold("b", 1, 6, 520, 3000), []history.Rec{revoke("a", "E", 500)})
	wantChecks(t, Check(recs, cfg(true)), "overlap")
}
