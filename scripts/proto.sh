#!/usr/bin/env bash
# Regenerates the Go code for proto/farewell/v1/*.proto into the proto module.
# Usage: scripts/proto.sh [output-dir]   (default: proto/)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-proto}
bin=.run/bin
mkdir -p "$bin" "$out"

if ! command -v protoc >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "proto: installing protobuf-compiler with apt-get"
		apt-get install -y --no-install-recommends protobuf-compiler >/dev/null ||
			{ apt-get update >/dev/null && apt-get install -y --no-install-recommends protobuf-compiler >/dev/null; }
	else
		echo "proto: protoc is missing; install it (Debian/Ubuntu: apt-get install protobuf-compiler)" >&2
		exit 1
	fi
fi

# protoc-gen-go is pinned to the google.golang.org/protobuf version in proto/go.mod.
want=$(cd proto && go list -m -f '{{.Version}}' google.golang.org/protobuf)
if [ ! -x "$bin/protoc-gen-go" ] || ! "$bin/protoc-gen-go" --version 2>/dev/null | grep -q "$want"; then
	GOBIN="$PWD/$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$want"
fi

protoc --plugin=protoc-gen-go="$bin/protoc-gen-go" \
	--go_out="$out" --go_opt=module=github.com/terning-farewell/farewell/proto \
	-I proto proto/farewell/v1/*.proto
