package checks

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// deploy/docker/build.sh bakes each service's port into its image; it is the
// port of the service's first local instance (pkg/localstack).
func TestImagePortsMatchTheLocalStack(t *testing.T) {
	t.Parallel()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "docker", "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{}
	for _, m := range regexp.MustCompile(`\[([a-z-]+)\]=([0-9]+)`).FindAllStringSubmatch(string(raw), -1) {
		ports[m[1]], _ = strconv.Atoi(m[2])
	}
	for _, svc := range localstack.Services() {
		want := localstack.InstancesOf(svc)[0].Port
		if ports[svc] != want {
			t.Errorf("deploy/docker/build.sh: %s port %d, want %d (its first instance in pkg/localstack)", svc, ports[svc], want)
		}
	}
	if len(ports) != len(localstack.Services()) {
		t.Errorf("deploy/docker/build.sh lists %d services, pkg/localstack %d", len(ports), len(localstack.Services()))
	}
}
