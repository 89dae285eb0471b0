#!/usr/bin/env bash
# gofmt, go vet and golangci-lint (pinned) over the given modules.
# Usage: scripts/lint.sh MODULE_DIR...
set -euo pipefail
cd "$(dirname "$0")/.."

GOLANGCI_VERSION=v2.15.0
bin=$PWD/.run/bin
mkdir -p "$bin"

unformatted=$(gofmt -l "$@")
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "gofmt: clean"

if ! "$bin/golangci-lint" version 2>/dev/null | grep -q "${GOLANGCI_VERSION#v}"; then
	echo "installing golangci-lint $GOLANGCI_VERSION (once)"
	GOBIN=$bin go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_VERSION"
fi

status=0
for m in "$@"; do
	echo "==> $m"
	(cd "$m" && go vet ./... && "$bin/golangci-lint" run --timeout 5m ./...) || status=1
done
exit $status
