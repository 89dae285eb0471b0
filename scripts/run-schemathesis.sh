#!/usr/bin/env bash
# Schema-driven API fuzzing of the running stack through nginx with schemathesis
# (PyPI, pinned), against docs/openapi.yaml.
#
#   scripts/run-schemathesis.sh install   # only create/refresh the venv (idempotent)
#   scripts/run-schemathesis.sh           # install if needed, then fuzz
#
# The venv lives in .run/schemathesis-venv and is reused while it holds the pinned
# version. Fuzzing needs, from the environment (never the command line, so they stay out
# of `ps` and of the report; schemathesis also masks them in its output):
#   FAREWELL_FUZZ_TOKEN   a valid participant token (Bearer) for /api/event/**
#   FAREWELL_ADMIN_KEY    the admin key for /api/admin/**
# Bounds and places (defaults in brackets):
#   FUZZ_MAX_EXAMPLES [50] test cases per operation and phase   FUZZ_SEED [random]
#   FUZZ_BASE_URL [http://127.0.0.1:8080]   FUZZ_REPORT_DIR [.run/fuzz-api]
#   FUZZ_WORKERS [1]   FUZZ_REPORTS [junit] (schemathesis --report formats)
# Extra arguments are passed on to `schemathesis run`.
# Use `make fuzz-api` (or test/fuzzapi's test): it mints the token, holds
# .run/stack.lock while it runs and scans the logs afterwards.
# Exit status: 0 when no check failed, non-zero on any finding or error.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=${FUZZ_VENV:-$PWD/.run/schemathesis-venv}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,missing_required_header,unsupported_method,ignored_auth

install() {
	if "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; then
		return 0
	fi
	local py=${PYTHON:-python3}
	if ! "$py" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			echo "installing python3-venv (apt-get)"
			apt-get install -y -q python3 python3-venv >/dev/null
		else
			echo "schemathesis needs Python >= 3.10 with venv: apt-get install python3 python3-venv" >&2
			exit 1
		fi
	fi
	echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV (once)"
	rm -rf "$VENV"
	"$py" -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
	"$VENV/bin/schemathesis" --version
}

install
[ "${1:-}" = install ] && exit 0

: "${FAREWELL_FUZZ_TOKEN:?set FAREWELL_FUZZ_TOKEN to a valid participant token (make fuzz-api mints one)}"
: "${FAREWELL_ADMIN_KEY:?set FAREWELL_ADMIN_KEY (see .run/farewell.env)}"
export FAREWELL_FUZZ_TOKEN FAREWELL_ADMIN_KEY

report=${FUZZ_REPORT_DIR:-$PWD/.run/fuzz-api}
mkdir -p "$report"
export FUZZ_CACHE_DIR="$report/cache"
# Credentials go only to the operations whose security scheme asks for them, so
# ignored_auth can prove that each one is enforced (it retries without and with a
# wrong credential).
cat >"$report/schemathesis.toml" <<'TOML'
[auth.openapi.bearer]
bearer = "${FAREWELL_FUZZ_TOKEN}"

[auth.openapi.adminKey]
api_key = "${FAREWELL_ADMIN_KEY}"

[output.sanitization]
enabled = true

# Crash cache for `schemathesis replay`, under .run/ rather than the working directory.
[cache]
directory = "${FUZZ_CACHE_DIR}"

# Undeclared methods must be 405 with an Allow header. nginx refuses TRACE
# itself, from an error page that cannot know the route's methods, so TRACE
# is left out here (docs/security.md); the services' own 405s are probed.
[phases.coverage]
unexpected-methods = ["GET", "PUT", "POST", "DELETE", "PATCH", "QUERY"]
TOML

args=(
	--config-file "$report/schemathesis.toml" --no-color
	run docs/openapi.yaml
	--url "${FUZZ_BASE_URL:-http://127.0.0.1:8080}"
	--checks "$CHECKS"
	--max-examples "${FUZZ_MAX_EXAMPLES:-50}"
	--workers "${FUZZ_WORKERS:-1}"
	--request-timeout 10
	--phases examples,coverage,fuzzing
	--report "${FUZZ_REPORTS:-junit}" --report-dir "$report"
)
[ -n "${FUZZ_SEED:-}" ] && args+=(--seed "$FUZZ_SEED")
exec "$VENV/bin/schemathesis" "${args[@]}" "$@"
