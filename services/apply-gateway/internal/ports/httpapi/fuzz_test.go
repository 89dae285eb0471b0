package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/terning-farewell/farewell/pkg/httpserver"
)

// FuzzAdminBody sends arbitrary bodies to the two admin routes that take
// one, with the right key, through the real handler and middleware: every
// answer is the JSON envelope with a matching status and never a 5xx, and a
// body only reaches the admin service when it is a JSON object whose count
// is an integer.
func FuzzAdminBody(f *testing.F) {
	for _, s := range []string{
		`{"count":5}`, `{"count":-1}`, `{"count":1.5}`, `{"count":"5"}`, `{"count":1e3}`, `{"count":99999999999999999999}`,
		`{"count":null}`, `{}`, `{"count":1,"x":2}`, `{"opensAt":"2030-01-01T00:00:00Z","closesAt":"2030-01-02T00:00:00Z"}`,
		`{"opensAt":"yesterday","closesAt":""}`, `[]`, `{`, "\x00", `{"count":5} {}`,
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	h, fa := newAdminEngine(f, nil, nil)
	f.Fuzz(func(t *testing.T, window bool, body string) {
		method, path := http.MethodPost, "/api/admin/event/stock"
		if window {
			method, path = http.MethodPut, "/api/admin/event/window"
		}
		before := fa.calls.Load()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-ADMIN-KEY", testAdminKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var env httpserver.Envelope
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Code == "" || env.Status != rec.Code {
			t.Fatalf("not the JSON envelope for %q: %d %q", body, rec.Code, rec.Body.String())
		}
		if rec.Code >= 500 {
			t.Fatalf("%d for %q", rec.Code, body)
		}
		if fa.calls.Load() != before && !window {
			var v struct{ Count json.Number }
			if err := json.Unmarshal([]byte(body), &v); err != nil || strings.ContainsAny(v.Count.String(), ".eE") {
				t.Fatalf("SetStock was called for %q", body)
			}
		}
	})
}
