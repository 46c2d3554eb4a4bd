#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job on the embedded default backend (file:// under the user's
# cache directory, no server): two processes contend for one lock, then two
# candidates hand a leadership over when the leader dies. Run by `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
unset TOOZ_URL
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/tooz" ./cmd/tooz
export PATH="$work:$PATH"
name="demo-$$"

waitfor() { # waitfor FILE PATTERN: wait up to 20 s for PATTERN in FILE
	for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "demo: timed out waiting for '$2' in $1" >&2; exit 1
}

echo "\$ tooz status"
tooz status >"$work/status"
head -3 "$work/status"
echo
echo "# terminal 1 holds lock $name while its command runs:"
echo "\$ tooz lock $name -- sh -c 'echo \"terminal 1 holds the lock, fencing token \$TOOZ_FENCING_TOKEN\"; ...'"
tooz lock "$name" -- sh -c "echo \"terminal 1 holds the lock, fencing token \$TOOZ_FENCING_TOKEN\"; until [ -e $work/release ]; do sleep 0.05; done" >"$work/t1" &
waitfor "$work/t1" "holds the lock"
cat "$work/t1"
echo
echo "# terminal 2 does not wait for it:"
echo "\$ tooz lock $name --no-wait -- true; echo \"exit status \$?\""
set +e
tooz lock "$name" --no-wait -- true 2>&1
echo "exit status $?"
set -e
echo
echo "# terminal 2 waits; terminal 1's command ends and the lock passes on:"
echo "\$ tooz lock $name -- sh -c 'echo \"terminal 2 holds the lock, fencing token \$TOOZ_FENCING_TOKEN\"'"
tooz lock "$name" -- sh -c 'echo "terminal 2 holds the lock, fencing token $TOOZ_FENCING_TOKEN"' >"$work/t2" 2>&1 &
t2=$!
touch "$work/release"
wait "$t2"
cat "$work/t2"
echo
echo "# two candidates for group $name; the leader is killed and the other takes over:"
tooz elect "$name" -- sh -c 'echo "candidate A leads, fencing token $TOOZ_FENCING_TOKEN"; exec sleep 600' >"$work/a" 2>&1 &
a=$!
waitfor "$work/a" "leads"
tooz elect "$name" -- sh -c 'echo "candidate B leads, fencing token $TOOZ_FENCING_TOKEN"; exec sleep 600' >"$work/b" 2>&1 &
cat "$work/a"
echo "\$ tooz leader $name"
tooz leader "$name"
echo "\$ kill -9 <candidate A>"
{ kill -9 "$a" && wait "$a"; } 2>/dev/null || true
waitfor "$work/b" "leads"
grep leads "$work/b"
echo "\$ tooz leader $name"
tooz leader "$name"
