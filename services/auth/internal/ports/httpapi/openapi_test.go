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
	"github.com/terning-farewell/farewell/services/auth/internal/ports/httpapi"
)

// TestRoutesMatchOpenAPI fails when an /api/auth route exists in code but not
// in docs/openapi.yaml, or the other way round.
func TestRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := httpserver.New(httpserver.DefaultConfig("127.0.0.1:0"), log, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := httpapi.Mount(srv.Engine(), nil, log, nil); err != nil {
		t.Fatal(err)
	}
	testinfra.RoutesMatchOpenAPI(t, srv.Engine().Routes(), func(p string) bool { return strings.HasPrefix(p, "/api/auth/") })
}
