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
	"go.yaml.in/yaml/v3"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/services/auth/internal/ports/httpapi"
)

// TestRoutesMatchOpenAPI fails when an /api/auth route exists in code but not
// in docs/openapi.yaml, or the other way round.
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
	owned := func(p string) bool { return strings.HasPrefix(p, "/api/auth/") }
	httpMethods := map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}
	var inSpec []string
	for path, ops := range spec.Paths {
		for method := range ops {
			if owned(path) && httpMethods[method] {
				inSpec = append(inSpec, strings.ToUpper(method)+" "+path)
			}
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := httpserver.New(httpserver.DefaultConfig("127.0.0.1:0"), log, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := httpapi.Mount(srv.Engine(), nil, log, nil); err != nil {
		t.Fatal(err)
	}
	var inCode []string
	for _, r := range srv.Engine().Routes() {
		if owned(r.Path) {
			inCode = append(inCode, r.Method+" "+r.Path)
		}
	}
	sort.Strings(inSpec)
	sort.Strings(inCode)
	if len(inCode) == 0 {
		t.Fatal("no /api/auth routes registered")
	}
	if strings.Join(inSpec, "\n") != strings.Join(inCode, "\n") {
		t.Fatalf("routes differ from docs/openapi.yaml\nspec:\n%s\ncode:\n%s", strings.Join(inSpec, "\n"), strings.Join(inCode, "\n"))
	}
}
