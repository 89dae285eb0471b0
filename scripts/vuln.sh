#!/usr/bin/env bash
# govulncheck (pinned, from the Go module proxy) over the given modules: the
# code paths that reach a known vulnerability in a dependency or in the
# standard library of the Go toolchain in use. Findings that remain are
# explained in docs/security.md.
# It reads the vulnerability database at https://vuln.go.dev; where that is
# out of reach, FAREWELL_VULNDB=file:///path/to/a/mirror points it elsewhere.
# Usage: scripts/vuln.sh MODULE_DIR...
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK_VERSION=v1.9.0
bin=$PWD/.run/bin
mkdir -p "$bin"
if ! "$bin/govulncheck" -version 2>/dev/null | grep -q "govulncheck@${GOVULNCHECK_VERSION}"; then
	echo "installing govulncheck $GOVULNCHECK_VERSION (once)"
	GOBIN=$bin go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi

db=()
[ -n "${FAREWELL_VULNDB:-}" ] && db=(-db "$FAREWELL_VULNDB")

status=0
for m in "$@"; do
	echo "==> govulncheck $m"
	(cd "$m" && "$bin/govulncheck" "${db[@]}" ./...) || status=1
done
exit $status
