#!/usr/bin/env bash
# Runs every Go fuzz target for a bounded time, one target per `go test`
# invocation (go test -fuzz takes one target at a time), and prints how many
# inputs each one tried. A failing input is written by Go to the package's
# testdata/fuzz/<FuzzName>/ and, once committed, stays a regression case.
#
#   scripts/fuzz.sh              # 10s per target (make fuzz)
#   scripts/fuzz.sh 2000x        # make test's short run (make fuzz-short): 2,000 inputs per target
#   FUZZ_ONLY=FuzzVerify scripts/fuzz.sh 1m
#
# make test uses a count, not a duration: with a duration, Go 1.26's fuzzing coordinator can
# report its own deadline as a failure ("context deadline exceeded", no failing input written)
# when a worker is still busy as the time runs out on a loaded machine (go.dev/issue/75804,
# fixed in Go 1.27). A count has no deadline to race. For a duration run, such a result is
# reported as "deadline" (the Go bug, not a finding) and does not fail the run; any run that
# writes a failing input, panics or fails otherwise still fails.
#
# The fuzzing build instruments every package of the test binary, so it runs with the
# `fuzzing` build tag: the integration tests of a fuzzed package carry `//go:build !fuzzing`
# and stay out, and with them the test infrastructure's few hundred packages (testcontainers,
# Docker's client). `make test` runs those integration tests as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${1:-${FUZZTIME:-10s}}

# module  package  target — keep in step with docs/security.md.
targets=(
	"pkg ./token FuzzVerify"
	"pkg ./token FuzzDecodeFastClaimsMatchesEncodingJSON"
	"pkg ./httpserver FuzzDecodeJSON"
	"pkg ./fairlog FuzzSealMatchesEncodingJSON"
	"services/auth ./internal/codes FuzzNormalizeEmail"
	"services/auth ./internal/codes FuzzPolicyIdentity"
	"services/auth ./internal/ports/httpapi FuzzAuthRequest"
	"services/apply-gateway ./internal/ports/httpapi FuzzAdminBody"
	"services/stock-consumer ./internal/ports/consumer FuzzDecodeApplication"
	"services/stock-consumer ./internal/ports/consumer FuzzAdminMessage"
	"services/notifier ./internal/ports/consumer FuzzCodeMessage"
	"services/notifier ./internal/ports/consumer FuzzDecisionMessage"
)

# coordinator_deadline reports whether a failed fuzz log is only Go's deadline race: its one
# failure line is "context deadline exceeded" and nothing was found (no input written, no panic,
# no test failure message).
coordinator_deadline() {
	local log=$1
	grep -q '^    context deadline exceeded$' "$log" || return 1
	! grep -q 'Failing input written\|panic:\|_test\.go:[0-9]*:' "$log"
}

failed=0
summary=()
total=0
for entry in "${targets[@]}"; do
	read -r module pkg name <<<"$entry"
	if [ -n "${FUZZ_ONLY:-}" ] && [ "$FUZZ_ONLY" != "$name" ]; then
		continue
	fi
	echo "==> $name ($module $pkg, $fuzztime)"
	log=$(mktemp)
	if (cd "$module" && go test -tags fuzzing -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg") >"$log" 2>&1; then
		status=ok
	elif coordinator_deadline "$log"; then
		status=deadline
		echo "note: $name stopped with Go's own fuzztime deadline error and no failing input (go.dev/issue/75804); not a finding"
	else
		status=FAIL
		failed=1
		cat "$log"
		if grep -q "build failed\|undefined:" "$log"; then
			echo "hint: the fuzzing build uses -tags fuzzing; a test file of $module/$pkg that needs the" \
				"stack's helpers must start with '//go:build !fuzzing' like the package's other integration tests"
		fi
	fi
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
	execs=${execs:-0}
	total=$((total + execs))
	summary+=("$(printf '%-24s %-8s %10s inputs' "$name" "$status" "$execs")")
	rm -f "$log"
done
echo "fuzz summary ($fuzztime per target):"
printf '  %s\n' "${summary[@]}"
echo "  total: $total inputs"
exit $failed
