package testinfra

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"
)

// RepoFile returns the path of rel (slash-separated, from the repository
// root: the folder holding go.work), searched upwards from the test's
// working directory.
func RepoFile(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, filepath.FromSlash(rel))
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.work above the working directory; cannot find %s", rel)
		}
		dir = parent
	}
}

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}

// RoutesMatchOpenAPI fails t when a route the service owns (owned(path))
// is registered in routes but not documented in docs/openapi.yaml, or the
// other way round.
func RoutesMatchOpenAPI(t testing.TB, routes gin.RoutesInfo, owned func(path string) bool) {
	t.Helper()
	raw, err := os.ReadFile(RepoFile(t, "docs/openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	var inSpec []string
	for path, ops := range spec.Paths {
		for method := range ops {
			if owned(path) && httpMethods[method] {
				inSpec = append(inSpec, strings.ToUpper(method)+" "+path)
			}
		}
	}
	var inCode []string
	for _, r := range routes {
		if owned(r.Path) {
			inCode = append(inCode, r.Method+" "+r.Path)
		}
	}
	sort.Strings(inSpec)
	sort.Strings(inCode)
	if len(inCode) == 0 {
		t.Fatal("no route of this service is registered")
	}
	if strings.Join(inSpec, "\n") != strings.Join(inCode, "\n") {
		t.Fatalf("routes differ from docs/openapi.yaml\nspec:\n%s\ncode:\n%s", strings.Join(inSpec, "\n"), strings.Join(inCode, "\n"))
	}
}
