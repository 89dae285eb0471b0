#!/usr/bin/env bash
# Builds the four Farewell images from deploy/docker/Dockerfile with the repository root as
# the build context: farewell/<service>:<tag> (tag from FAREWELL_IMAGE_TAG, default "dev").
#
#   deploy/docker/build.sh                 all four services
#   deploy/docker/build.sh auth notifier   only these
#
# Environment: FAREWELL_IMAGE_TAG (default dev), FAREWELL_IMAGE_REPO (default farewell),
# DOCKER (default docker), extra `docker build` flags in FAREWELL_DOCKER_BUILD_FLAGS
# (e.g. "--push --platform linux/amd64,linux/arm64" with a buildx builder).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TAG="${FAREWELL_IMAGE_TAG:-dev}"
REPO="${FAREWELL_IMAGE_REPO:-farewell}"
DOCKER="${DOCKER:-docker}"
read -r -a EXTRA <<<"${FAREWELL_DOCKER_BUILD_FLAGS:-}"

# service:port, the port each service listens on in its container: its first local instance's
# port (pkg/localstack; test/checks fails when they differ).
declare -A PORTS=([auth]=8081 [apply-gateway]=8083 [stock-consumer]=8085 [notifier]=8086)

services=("$@")
((${#services[@]} > 0)) || services=(auth apply-gateway stock-consumer notifier)

command -v "$DOCKER" >/dev/null 2>&1 || {
	echo "build.sh: '$DOCKER' not found; install the Docker CLI (and point it at an engine)" >&2
	exit 1
}

export DOCKER_BUILDKIT=1
for svc in "${services[@]}"; do
	port="${PORTS[$svc]:-}"
	[[ -n "$port" ]] || {
		echo "build.sh: unknown service '$svc' (want one of: ${!PORTS[*]})" >&2
		exit 2
	}
	echo "==> $REPO/$svc:$TAG"
	"$DOCKER" build \
		--file "$ROOT/deploy/docker/Dockerfile" \
		--build-arg SERVICE="$svc" \
		--build-arg PORT="$port" \
		--tag "$REPO/$svc:$TAG" \
		"${EXTRA[@]}" \
		"$ROOT"
done
