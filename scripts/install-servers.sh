#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the real servers the tests run against (see internal/testserver):
#   - redis-server, zookeeper (3.8) and etcd-server (3.4) from Debian's packages;
#   - Consul 1.16.1, built from its Go module by the wrapper in tools/consul;
#   - a current etcd (3.6), built from go.etcd.io/etcd/server/v3 by tools/etcd;
#   - kube-apiserver 1.37, built from k8s.io/kubernetes by tools/kube-apiserver
#     (cold: about 10 minutes of CPU and 0.5 GB of modules; cached after that).
# Built binaries are cached outside the work tree, keyed by version, in
#   ${TOOZ_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tooz/bin}
# and rebuilt only when missing or when the wrapper's sources changed.
#
# Idempotent: with everything present it only checks and exits in a second.
# Usage: scripts/install-servers.sh [--rebuild] [--skip-apt] [--skip-consul] [--skip-etcd] [--skip-kube]
set -euo pipefail

rebuild=0 skip_apt=0 skip_consul=0 skip_etcd=0 skip_kube=0
for arg in "$@"; do
	case "$arg" in
	--rebuild) rebuild=1 ;;
	--skip-apt) skip_apt=1 ;;
	--skip-consul) skip_consul=1 ;;
	--skip-etcd) skip_etcd=1 ;;
	--skip-kube) skip_kube=1 ;;
	-h | --help)
		sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "install-servers: unknown argument $arg" >&2
		exit 2
		;;
	esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin_dir=${TOOZ_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tooz/bin}
script_start=$(date +%s.%N)

log() { printf 'install-servers: %s\n' "$*"; }
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1fs", e - s }'; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "install-servers: need root (or sudo) for: $*" >&2
		return 1
	fi
}

# --- Debian packages ---------------------------------------------------------
# nftables and iproute2: internal/netlab (network namespaces, firewall faults).
apt_packages=(redis-server zookeeper etcd-server nftables iproute2)

install_apt() {
	local t missing=() pkg
	t=$(date +%s.%N)
	for pkg in "${apt_packages[@]}"; do
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != installed ]; then
			missing+=("$pkg")
		fi
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "apt: ${apt_packages[*]} already installed ($(elapsed "$t"))"
		return
	fi
	log "apt: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# The tests start their own servers on free ports; keep the packages'
	# init scripts from starting the system services while installing, when
	# nothing else already decides that (policy-rc.d exit 101 = "forbidden").
	local policy=/usr/sbin/policy-rc.d own_policy=0
	if [ ! -e "$policy" ]; then
		as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
		own_policy=1
	fi
	local rc=0
	{
		as_root apt-get update -q &&
			as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
	} || rc=$?
	if [ "$own_policy" -eq 1 ]; then
		as_root rm -f "$policy"
	fi
	[ "$rc" -eq 0 ] || {
		echo "install-servers: apt-get failed ($rc)" >&2
		exit "$rc"
	}
	# Belt and braces: stop any service that was started anyway. Tests never
	# use the default ports, so a running one is only in the way of nothing,
	# but it costs memory.
	local svc
	for svc in redis-server zookeeper etcd; do
		if [ -x "/etc/init.d/$svc" ]; then
			as_root "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
		fi
	done
	log "apt: installed ${missing[*]} ($(elapsed "$t"))"
}

# --- Go-built servers ----------------------------------------------------------

# module_version DIR MODULE prints the version of MODULE required in DIR/go.mod.
module_version() {
	awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1/go.mod"
}

# src_stamp DIR prints a hash of the wrapper's sources, so a changed wrapper
# is rebuilt even when the server's version did not change.
src_stamp() {
	(cd "$1" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1)
}

# build_wrapper NAME DIR MODULE builds the wrapper in DIR into
# $bin_dir/NAME-<version of MODULE>, unless it is there and up to date.
build_wrapper() {
	local name=$1 dir=$root/$2 module=$3 t version out stamp
	t=$(date +%s.%N)
	version=$(module_version "$dir" "$module")
	version=${version#v}
	if [ -z "$version" ]; then
		echo "install-servers: no version of $module in $dir/go.mod" >&2
		exit 1
	fi
	out=$bin_dir/$name-$version
	stamp=$(src_stamp "$dir")
	if [ "$rebuild" -eq 0 ] && [ -x "$out" ] && [ "$(cat "$out.src" 2>/dev/null)" = "$stamp" ]; then
		log "$name $version: cached at $out ($(elapsed "$t"))"
		return
	fi
	command -v go >/dev/null 2>&1 || {
		echo "install-servers: go is needed to build $name" >&2
		exit 1
	}
	log "$name $version: building $out (cold: minutes; warm Go build cache: faster)"
	mkdir -p "$bin_dir"
	# -mod=readonly: go.mod/go.sum are committed complete, so the build makes
	# no checksum-database look-ups and never rewrites them; -buildvcs=false:
	# no git stamping (fails on a checkout owned by another user). GOWORK=off keeps
	# a go.work in the repository from pulling the root module in.
	(cd "$dir" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
		go build -trimpath -ldflags='-s -w' -o "$out.tmp.$$" .)
	mv -f "$out.tmp.$$" "$out"
	printf '%s\n' "$stamp" >"$out.src"
	log "$name $version: built $out, $(du -m "$out" | cut -f1) MB ($(elapsed "$t"))"
}

mkdir -p "$bin_dir"
# One install at a time per bin dir (parallel `make test` runs).
exec 9>"$bin_dir/.install.lock"
flock 9

if [ "$skip_apt" -eq 0 ]; then install_apt; fi
if [ "$skip_etcd" -eq 0 ]; then build_wrapper etcd tools/etcd go.etcd.io/etcd/server/v3; fi
if [ "$skip_consul" -eq 0 ]; then build_wrapper consul tools/consul github.com/hashicorp/consul; fi
if [ "$skip_kube" -eq 0 ]; then build_wrapper kube-apiserver tools/kube-apiserver k8s.io/kubernetes; fi

log "done in $(elapsed "$script_start"); binaries in $bin_dir"
