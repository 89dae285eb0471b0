// Package checks verifies Farewell's deployment artefacts without a Docker engine or a
// cluster: the Kubernetes overlays (built with kustomize and decoded strictly into the API
// types), the nginx configurations (nginx -t), the Prometheus rules (promtool), the Compose
// file (the Compose specification's own loader) and the Dockerfile's build command.
//
// The checks live in the tests of this package (`go test ./...` from test/checks, part of
// `make test`); the functions here are the reusable parts, each shown by a test to reject a
// deliberately broken input. Tests that need the nginx or promtool binaries skip when the
// binary is missing, unless FAREWELL_REQUIRE_TOOLS is set (as `make test` and CI do).
package checks
