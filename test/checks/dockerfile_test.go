package checks

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

func readDockerfile(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/docker/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestDockerfileBuildsEveryService runs the Dockerfile's own `go build` command for each
// service from the repository root (go.work), so an image build cannot fail on a compile
// error that `make test` did not see.
func TestDockerfileBuildsEveryService(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles every service with the image's build settings; skipped by -short (make test-unit)")
	}
	t.Parallel()
	root := repoRoot(t)
	dockerfile := readDockerfile(t)
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "app")
			args, err := DockerfileGoBuild(dockerfile, svc, out)
			if err != nil {
				t.Fatal(err)
			}
			if err := GoBuild(root, "", args); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
				t.Fatalf("go build produced no binary at %s (%v)", out, err)
			}
		})
	}
}

func TestDockerfileShape(t *testing.T) {
	t.Parallel()
	d := string(readDockerfile(t))
	for _, want := range []string{
		"ARG SERVICE",
		"CGO_ENABLED=0",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532",
		"EXPOSE ",
		`ENTRYPOINT ["/app"]`,
	} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	args, err := DockerfileGoBuild([]byte(d), "auth", "/tmp/x")
	if err != nil {
		t.Fatal(err)
	}
	// The local stack builds with the same flags and environment, so the two
	// share one set of compiled packages in the build cache.
	want := append(append([]string{"build"}, localstack.BuildFlags()...), "-o", "/tmp/x", localstack.ServicePackage("auth"))
	if !slices.Equal(args, want) {
		t.Fatalf("go build args = %q, want %q (pkg/localstack.BuildFlags)", args, want)
	}
	for k, v := range localstack.BuildEnv() {
		if !strings.Contains(d, k+"="+v) {
			t.Errorf("Dockerfile lacks %s=%s (pkg/localstack.BuildEnv)", k, v)
		}
	}
}

// TestDockerfileBuildFailsOnBrokenCode shows the build check can fail: the same command on
// a module that does not compile, and on a service that does not exist.
func TestDockerfileBuildFailsOnBrokenCode(t *testing.T) {
	t.Parallel()
	dockerfile := readDockerfile(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/broken\n\ngo 1.26\n")
	writeFile(t, filepath.Join(dir, "services/broken/cmd/broken/main.go"), "package main\n\nfunc main() { undefinedCall() }\n")
	args, err := DockerfileGoBuild(dockerfile, "broken", filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	if err := GoBuild(dir, "off", args); err == nil || !strings.Contains(err.Error(), "undefinedCall") {
		t.Fatalf("building broken code: %v, want a compile error", err)
	}
	args, err = DockerfileGoBuild(dockerfile, "no-such-service", filepath.Join(dir, "app2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := GoBuild(repoRoot(t), "", args); err == nil {
		t.Fatal("building a service that does not exist succeeded")
	}
	if _, err := DockerfileGoBuild([]byte("FROM scratch\n"), "auth", "x"); err == nil {
		t.Fatal("a Dockerfile without go build was accepted")
	}
}
