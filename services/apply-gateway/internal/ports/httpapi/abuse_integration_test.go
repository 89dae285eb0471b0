//go:build !fuzzing

package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ports/httpapi"
)

// TestTokenInQueryStringIsRefused: a valid token is only read from the
// Authorization header. In a URL it would end up in access logs, proxies and
// browser history, so it is not accepted there, under any usual name.
func TestTokenInQueryStringIsRefused(t *testing.T) {
	g := newGateway(t, false)
	g.setStock(5)
	email := "query-token@example.com"
	tok := g.bearer(email)["Authorization"][len("Bearer "):]
	for _, name := range []string{"token", "access_token", "jwt", "authorization", "Authorization"} {
		q := url.Values{name: {tok}}.Encode()
		for _, r := range []struct{ method, path string }{{"POST", "/api/event/apply"}, {"GET", "/api/event/status"}} {
			resp, env := g.do(r.method, r.path+"?"+q, "", nil)
			expect(t, resp, env, http.StatusUnauthorized, httpserver.CodeUnauthorized)
		}
	}
	// Nothing was admitted for that participant.
	resp, env := g.do("GET", "/api/event/status", "", g.bearer(email))
	expect(t, resp, env, http.StatusNotFound, httpapi.CodeApplicationNotFound)
	if ok, _ := g.rdb.HExists(context.Background(), redisx.KeysFor(g.eventID).Applied, email).Result(); ok {
		t.Fatal("a token in the query string admitted an application")
	}
}

// TestRepeatedAdminFailuresAre429 runs the limiter on the real gateway: after
// DefaultAdminFailures wrong keys the client gets 429 with Retry-After, even
// with the right key, and nothing changed.
func TestRepeatedAdminFailuresAre429(t *testing.T) {
	g := newGateway(t, false)
	for i := 0; i < httpapi.DefaultAdminFailures; i++ {
		resp, env := g.do("POST", "/api/admin/event/stock", `{"count":7}`, map[string]string{"X-ADMIN-KEY": "guess-" + strconv.Itoa(i)})
		expect(t, resp, env, http.StatusForbidden, httpapi.CodeInvalidAdminKey)
	}
	for _, key := range []string{"guess-again", adminKey} {
		resp, env := g.do("POST", "/api/admin/event/stock", `{"count":7}`, map[string]string{"X-ADMIN-KEY": key})
		expect(t, resp, env, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
			t.Fatalf("Retry-After = %q, want 1..60", resp.Header.Get("Retry-After"))
		}
	}
	if v, _ := g.rdb.Get(context.Background(), redisx.KeysFor(g.eventID).Total).Result(); v != "" {
		t.Fatalf("stock changed to %q while the client was locked out", v)
	}
}
