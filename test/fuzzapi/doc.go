// Package fuzzapi fuzzes the public and admin API of the running local stack
// through nginx with schemathesis, against docs/openapi.yaml: no 5xx, every
// status and body as the spec says, every error the JSON envelope, every
// credential enforced. Its test holds the stack lock, mints a participant
// token, runs scripts/run-schemathesis.sh, restores the event it touched
// and then scans the stack's logs for the secrets and the token it used.
//
// `make test` runs a short pass (FAREWELL_FUZZ_EXAMPLES, default 5 cases per
// operation and phase); `make fuzz-api` a bounded longer one (50).
package fuzzapi
