#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the full fault matrix (faults/, TOOZ_FAULTS=full): every backend
# configuration, every fault aimed at the current lock holder or leader,
# checked from the recorded histories. About 15 minutes on a 2-core machine.
#
# Environment:
#   TOOZ_FAULTS_ROUNDS    rounds of every fault per backend (default 2)
#   TOOZ_FAULTS_BACKENDS  comma-separated subset of: etcd,redis,redis-aof,
#                         zookeeper,consul,consul-persistent
#   TOOZ_FAULTS_OUT       where histories and results go (default: a new
#                         directory under /tmp, printed at the end)
#
# The results table (one row per backend) is printed at the end, in the
# format of RELIABILITY.md's "Last full run" section.
set -eu
cd "$(dirname "$0")/.."

out=${TOOZ_FAULTS_OUT:-$(mktemp -d /tmp/tooz-faults.XXXXXX)}
mkdir -p "$out"
results="$out/results.jsonl"
rm -f "$results" "$results.md"

status=0
TOOZ_FAULTS=full TOOZ_FAULTS_KEEP="$out/histories" TOOZ_FAULTS_RESULTS="$results" \
	go test -race -count=1 -timeout 60m -run 'TestFull|TestRevoke|TestFailover' -v ./faults/ >"$out/test.log" 2>&1 || status=$?

grep -E '^(=== RUN|--- |    --- )|faults: |VIOLATION|KNOWN FAILURE' "$out/test.log" || true
echo
echo "| run | backend | ops | sections | fenced writes | stale writes rejected | faults | Lost() signals | overlaps explained/unexplained | result |"
echo "|---|---|---|---|---|---|---|---|---|---|"
cat "$results.md" 2>/dev/null || echo "(no results: see $out/test.log)"
echo
echo "histories, results and the full log: $out"
exit $status
