#!/usr/bin/env bash
# Installs Debian packages for the local stack (tools/cmd/stack calls it with the packages
# whose binaries are missing; run it as root).
#
#   scripts/install-packages.sh redis-server mariadb-server nginx ...
#
# A policy-rc.d guard keeps apt from starting the system redis/mariadb/nginx services on
# the ports the local stack uses.
set -euo pipefail

(($# > 0)) || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
[[ "$(id -u)" == 0 ]] || { echo "$0: run as root (or: sudo apt-get install -y --no-install-recommends $*)" >&2; exit 1; }

guard=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
	guard=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\n# added by farewell scripts/install-packages.sh during apt-get install\nexit 101\n' >"$guard"
	chmod 755 "$guard"
	trap 'rm -f "$guard"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "$@"
