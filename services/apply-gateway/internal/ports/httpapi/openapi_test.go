//go:build !fuzzing

package httpapi_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ports/httpapi"
)

// TestRoutesMatchOpenAPI fails when a route exists in code but not in
// docs/openapi.yaml, or the other way round, for the paths this service owns.
func TestRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	srv, err := httpserver.New(httpserver.DefaultConfig("127.0.0.1:0"), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	httpapi.NewHandlers(nil, nil, nil, "unused", nil).Register(srv.Engine())
	testinfra.RoutesMatchOpenAPI(t, srv.Engine().Routes(), func(p string) bool {
		return strings.HasPrefix(p, "/api/event/") || strings.HasPrefix(p, "/api/admin/")
	})
}
