package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/token"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
)

// soldOutApplier answers every apply as the local sold-out flag does.
type soldOutApplier struct{ fakeApplier }

func (soldOutApplier) ApplyFor(context.Context, string, string) (*fairlog.Receipt, error) {
	return nil, admission.ErrSoldOut
}

// BenchmarkShedPath is one sold-out apply through the gateway's whole
// handler chain (middleware, token check, error answer), next to a handler
// that answers the same envelope and nothing else; the ratio of the two is
// the per-request cost the shed path adds in the handler (net/http's own
// request reading is outside both).
func BenchmarkShedPath(b *testing.B) {
	codec, err := token.New(token.Config{
		Current: token.Key{ID: "k1", Secret: []byte(strings.Repeat("s", 32))},
		Issuer:  "farewell-auth", Audience: "farewell-event", TTL: time.Hour, Event: "ev",
	})
	if err != nil {
		b.Fatal(err)
	}
	// Minted a minute ago, as a racer's token is: well inside its limits.
	raw, err := codec.Mint("racer@example.com", time.Now().Add(-time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg := httpserver.DefaultConfig("127.0.0.1:0")
	cfg.TrustedProxies = []string{"127.0.0.1"}
	srv, err := httpserver.New(cfg, log, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	NewHandlers(soldOutApplier{}, &fakeAdmin{}, codec, testAdminKey, log).Register(srv.Engine())
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write(soldOutBody)
	})
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest(http.MethodPost, "/api/event/apply", nil)
				req.RemoteAddr = "127.0.0.1:40000"
				req.Header.Set("Authorization", "Bearer "+raw)
				req.Header.Set("X-Forwarded-For", "10.1.2.3")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusConflict {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
	b.Run("gateway", func(b *testing.B) { run(b, srv.Handler()) })
	b.Run("bare", func(b *testing.B) { run(b, bare) })
}

var soldOutBody = []byte(`{"status":409,"code":"EVENT_CLOSED","message":"선착순 마감되었습니다. (event closed: sold out)"}`)
