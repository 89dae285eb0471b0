package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terning-farewell/farewell/pkg/kafka"
)

// The Kubernetes Job and the Compose service create the topics with
// k8s/base/create-topics.sh; the list it creates must be pkg/kafka's.
func TestCreateTopicsScriptMatchesTopicList(t *testing.T) {
	t.Parallel()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script, err := ScriptTopics(filepath.Join(root, "k8s", "base", "create-topics.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if diffs := DiffTopics(script, kafka.Topics(1)); len(diffs) > 0 {
		t.Errorf("k8s/base/create-topics.sh differs from pkg/kafka/topics.go:\n  %s", strings.Join(diffs, "\n  "))
	}
}

func TestDiffTopicsRejectsAChangedScript(t *testing.T) {
	t.Parallel()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "k8s", "base", "create-topics.sh"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, want string
	}{
		{"retention", `create farewell.auth.codes 6 "$hour"`, `create farewell.auth.codes 6 "$week"`, "farewell.auth.codes: retention"},
		{"partitions", `create farewell.event.decisions 6 "$week"`, `create farewell.event.decisions 3 "$week"`, "farewell.event.decisions: partitions 3"},
		{"missing", "create farewell.event.admin.dlq 1 \"$month\"\n", "", "farewell.event.admin.dlq: missing"},
		{"extra", "create farewell.event.admin 1", "create farewell.event.extra 1 \"$month\"\ncreate farewell.event.admin 1", "farewell.event.extra: created by the script"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(string(raw), tt.from) {
				t.Fatalf("the script no longer contains %q", tt.from)
			}
			path := filepath.Join(t.TempDir(), "create-topics.sh")
			if err := os.WriteFile(path, []byte(strings.Replace(string(raw), tt.from, tt.to, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			script, err := ScriptTopics(path)
			if err != nil {
				t.Fatal(err)
			}
			diffs := strings.Join(DiffTopics(script, kafka.Topics(1)), "\n")
			if !strings.Contains(diffs, tt.want) {
				t.Errorf("diffs %q, want one containing %q", diffs, tt.want)
			}
		})
	}
}
