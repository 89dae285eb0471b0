package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

func newTestServer(t testing.TB, checks []Check) *Server {
	t.Helper()
	cfg := DefaultConfig("127.0.0.1:0")
	cfg.MaxBodyBytes = 64
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), checks)
	if err != nil {
		t.Fatal(err)
	}
	s.Engine().POST("/echo", func(c *gin.Context) {
		var body struct {
			Name string `json:"name"`
		}
		if e := DecodeJSON(c, &body); e != nil {
			WriteError(c, e)
			return
		}
		WriteOK(c, 200, "ok", gin.H{"name": body.Name})
	})
	s.Engine().GET("/panic", func(*gin.Context) { panic("boom") })
	return s
}

func call(t *testing.T, h http.Handler, method, path, contentType, body string) (int, Envelope, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env Envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%s %s: not a JSON envelope: %q", method, path, rec.Body.String())
	}
	if env.Status != rec.Code {
		t.Fatalf("envelope status %d != HTTP %d", env.Status, rec.Code)
	}
	return rec.Code, env, rec.Header()
}

func TestEveryErrorIsAJSONEnvelope(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, nil).Handler()
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"ok", "POST", "/echo", "application/json", `{"name":"x"}`, 200, CodeOK},
		{"charset allowed", "POST", "/echo", "application/json; charset=utf-8", `{"name":"x"}`, 200, CodeOK},
		{"unknown path", "GET", "/nope", "", "", 404, CodeNotFound},
		{"wrong method", "DELETE", "/echo", "", "", 405, CodeMethodNotAllowed},
		{"oversized", "POST", "/echo", "application/json", `{"name":"` + strings.Repeat("x", 100) + `"}`, 413, CodePayloadTooLarge},
		{"wrong content type", "POST", "/echo", "text/plain", `{"name":"x"}`, 415, CodeUnsupportedMediaType},
		{"malformed", "POST", "/echo", "application/json", `{"name":`, 400, CodeInvalidJSON},
		{"unknown field", "POST", "/echo", "application/json", `{"nom":"x"}`, 400, CodeInvalidJSON},
		{"trailing data", "POST", "/echo", "application/json", `{"name":"x"} {}`, 400, CodeInvalidJSON},
		{"empty", "POST", "/echo", "application/json", ``, 400, CodeInvalidJSON},
		{"wrong type", "POST", "/echo", "application/json", `{"name":5}`, 400, CodeInvalidJSON},
		{"panic", "GET", "/panic", "", "", 500, CodeInternal},
		{"healthz", "GET", "/healthz", "", "", 200, CodeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, env, hdr := call(t, h, tt.method, tt.path, tt.ctype, tt.body)
			if status != tt.status || env.Code != tt.code {
				t.Fatalf("got %d %s (%s), want %d %s", status, env.Code, env.Message, tt.status, tt.code)
			}
			if hdr.Get("X-Request-ID") == "" {
				t.Fatal("no X-Request-ID")
			}
		})
	}
}

func TestReadyzReflectsDependencies(t *testing.T) {
	t.Parallel()
	var down bool
	h := newTestServer(t, []Check{{Name: "redis", Ping: func(context.Context) error {
		if down {
			return errors.New("connection refused")
		}
		return nil
	}}}).Handler()
	if status, _, _ := call(t, h, "GET", "/readyz", "", ""); status != 200 {
		t.Fatalf("ready = %d", status)
	}
	down = true
	status, env, _ := call(t, h, "GET", "/readyz", "", "")
	if status != 503 || !strings.Contains(string(mustJSON(t, env.Result)), "redis") {
		t.Fatalf("not ready = %d %v", status, env.Result)
	}
}

func TestMetricsExposeRoutes(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, nil).Handler()
	call(t, h, "POST", "/echo", "application/json", `{"name":"x"}`)
	call(t, h, "BREW", "/echo", "", "")
	req := httptest.NewRequest("GET", "/metrics", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	if !strings.Contains(body, `farewell_http_requests_total{method="POST",route="/echo",status="200"} 1`) {
		t.Fatalf("route metric missing:\n%s", body)
	}
	if strings.Contains(body, `method="BREW"`) {
		t.Fatal("arbitrary methods leak into metric labels")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `{`, `[]`, `{"name":"x"}{}`, `null`, "\x00"} {
		f.Add(s)
	}
	h := newTestServer(f, nil).Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/echo", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("5xx for body %q", body)
		}
		var env Envelope
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Code == "" {
			t.Fatalf("not an envelope for body %q: %q", body, rec.Body.String())
		}
	})
}

func TestRequestIDIsKeptAnsweredAndLogged(t *testing.T) {
	t.Parallel()
	var logged strings.Builder
	s, err := New(DefaultConfig("127.0.0.1:0"), slog.New(slog.NewJSONHandler(&logged, nil)), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen string
	s.Engine().GET("/id", func(c *gin.Context) {
		seen = RequestID(c)
		WriteOK(c, 200, "ok", nil)
	})
	for _, sent := range []string{"req-abc-123", "", strings.Repeat("x", 65)} {
		req := httptest.NewRequest(http.MethodGet, "/id", nil)
		if sent != "" {
			req.Header.Set("X-Request-ID", sent)
		}
		rec := httptest.NewRecorder()
		logged.Reset()
		s.Handler().ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-ID")
		switch {
		case sent == "req-abc-123" && got != sent:
			t.Fatalf("client's id %q answered as %q", sent, got)
		case sent != "req-abc-123" && (len(got) != 16 || got == sent):
			t.Fatalf("sent %q: want a fresh 16-hex id, got %q", sent, got)
		}
		if seen != got {
			t.Fatalf("RequestID in the handler = %q, answered %q", seen, got)
		}
		if !strings.Contains(logged.String(), `"request_id":"`+got+`"`) {
			t.Fatalf("access log line without the request id %q: %s", got, logged.String())
		}
	}
}

func TestBodyWithoutALengthIsLimitedToo(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, nil).Handler()
	body := `{"name":"` + strings.Repeat("x", 100) + `"}`
	req := httptest.NewRequest(http.MethodPost, "/echo", io.NopCloser(strings.NewReader(body)))
	req.ContentLength = -1 // chunked: the length is not known up front
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("unbounded chunked body: %d %s", rec.Code, rec.Body.String())
	}
}
