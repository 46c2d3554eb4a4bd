#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# check-headers.sh lists the tracked .go files that lack the SPDX license
# line (see CONTRIBUTING.md, "License headers") and exits 1 if there is any.
# With --fix it adds the two header lines to them instead.
set -eu
cd "$(dirname "$0")/.."
fix=false
[ "${1:-}" = "--fix" ] && fix=true
missing=0
for f in $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'); do
	if ! head -n 5 "$f" | grep -q '^// SPDX-License-Identifier: Apache-2.0$'; then
		if $fix; then
			tmp=$(mktemp)
			printf '// Copyright 2026 The tooz for Go Authors\n// SPDX-License-Identifier: Apache-2.0\n\n' >"$tmp"
			cat "$f" >>"$tmp"
			mv "$tmp" "$f"
		else
			echo "$f"
			missing=$((missing + 1))
		fi
	fi
done
if [ "$missing" -gt 0 ]; then
	echo "check-headers: $missing file(s) lack '// SPDX-License-Identifier: Apache-2.0' (run scripts/check-headers.sh --fix)" >&2
	exit 1
fi
