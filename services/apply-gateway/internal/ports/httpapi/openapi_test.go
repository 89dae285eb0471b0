package httpapi_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ports/httpapi"
)

// TestRoutesMatchOpenAPI fails when a route exists in code but not in
// docs/openapi.yaml, or the other way round, for the paths this service owns.
func TestRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	owned := func(p string) bool { return strings.HasPrefix(p, "/api/event/") || strings.HasPrefix(p, "/api/admin/") }
	var inSpec []string
	for path, ops := range spec.Paths {
		for method := range ops {
			if owned(path) {
				inSpec = append(inSpec, strings.ToUpper(method)+" "+path)
			}
		}
	}
	srv, err := httpserver.New(httpserver.DefaultConfig("127.0.0.1:0"), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	httpapi.NewHandlers(nil, nil, nil, "unused", nil).Register(srv.Engine())
	var inCode []string
	for _, r := range srv.Engine().Routes() {
		if owned(r.Path) {
			inCode = append(inCode, r.Method+" "+r.Path)
		}
	}
	sort.Strings(inSpec)
	sort.Strings(inCode)
	if strings.Join(inSpec, "\n") != strings.Join(inCode, "\n") {
		t.Fatalf("routes differ from docs/openapi.yaml\nspec:\n%s\ncode:\n%s", strings.Join(inSpec, "\n"), strings.Join(inCode, "\n"))
	}
}
