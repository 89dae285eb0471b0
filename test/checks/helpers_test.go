package checks

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// requireTool returns the path of an external program. When it is missing the test is
// skipped, unless FAREWELL_REQUIRE_TOOLS is set (make test and CI), where it fails.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	// nginx lives in sbin, which a non-login PATH may lack.
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		candidate := filepath.Join(dir, name)
		if fi, statErr := os.Stat(candidate); statErr == nil && !fi.IsDir() {
			return candidate
		}
	}
	if os.Getenv("FAREWELL_REQUIRE_TOOLS") != "" {
		t.Fatalf("%s is not installed and FAREWELL_REQUIRE_TOOLS is set", name)
	}
	t.Skipf("%s is not installed (set FAREWELL_REQUIRE_TOOLS=1 to make this a failure)", name)
	return ""
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
