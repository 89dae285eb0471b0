package localstack

// The local stack builds its binaries exactly as the container image does
// (deploy/docker/Dockerfile; test/checks fails when the two differ). One
// build configuration means one set of compiled packages in the Go build
// cache: `make run`, the stack tool and the Dockerfile check in `make test`
// share them instead of compiling every dependency once per configuration.

// BuildEnv is the environment of every binary build (CGO off: static
// binaries, and the same cache keys as the image build).
func BuildEnv() map[string]string {
	return map[string]string{"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
}

// BuildFlags are the `go build` flags of every binary, before -o.
func BuildFlags() []string { return []string{"-trimpath", "-ldflags=-s -w"} }

// ServicePackage is the main package of a service, relative to the root.
func ServicePackage(service string) string { return "./services/" + service + "/cmd/" + service }
