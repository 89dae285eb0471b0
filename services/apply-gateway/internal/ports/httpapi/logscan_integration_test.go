//go:build !fuzzing

package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/observability"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ports/httpapi"
)

// TestLogsCarryNoTokenOrAdminKey drives the gateway through apply, status,
// the admin API, refused tokens and keys, the admin lockout and a broker
// failure with the service's real JSON logger at debug level, then scans the
// logs: no token (nor its signature), no admin key, no guessed key and no
// secret may appear.
func TestLogsCarryNoTokenOrAdminKey(t *testing.T) {
	sink := &testinfra.LogSink{}
	log, err := observability.NewLogger(sink, "debug", "apply-gateway", "logscan")
	if err != nil {
		t.Fatal(err)
	}
	g := newGatewayWithLog(t, false, log)
	g.setStock(3)
	me := g.bearer("logscan@example.com")
	resp, env := g.do("POST", "/api/event/apply", "", me)
	expect(t, resp, env, http.StatusAccepted, httpserver.CodeOK)
	resp, env = g.do("POST", "/api/event/apply", "", me)
	expect(t, resp, env, http.StatusConflict, httpapi.CodeAlreadyApplied)
	resp, env = g.do("GET", "/api/event/status", "", me)
	expect(t, resp, env, http.StatusOK, httpserver.CodeOK)
	tok := strings.TrimPrefix(me["Authorization"], "Bearer ")
	resp, env = g.do("GET", "/api/event/status?token="+tok, "", nil)
	expect(t, resp, env, http.StatusUnauthorized, httpserver.CodeUnauthorized)
	tampered := tok[:len(tok)-4] + "AAAA"
	resp, env = g.do("GET", "/api/event/status", "", map[string]string{"Authorization": "Bearer " + tampered})
	expect(t, resp, env, http.StatusUnauthorized, httpapi.CodeInvalidToken)
	var guesses []string
	for i := 0; i < httpapi.DefaultAdminFailures; i++ {
		guess := "guess-" + strings.Repeat(string(rune('a'+i)), 20)
		guesses = append(guesses, guess)
		resp, env = g.do("GET", "/api/admin/event", "", map[string]string{"X-ADMIN-KEY": guess})
		expect(t, resp, env, http.StatusForbidden, httpapi.CodeInvalidAdminKey)
	}
	resp, env = g.do("GET", "/api/admin/event", "", map[string]string{"X-ADMIN-KEY": adminKey})
	expect(t, resp, env, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)

	broken := newGatewayWithLog(t, true, log)
	broken.setStock(3)
	resp, env = broken.do("POST", "/api/event/apply", "", broken.bearer("logscan-2@example.com"))
	expect(t, resp, env, http.StatusServiceUnavailable, httpserver.CodeUnavailable)

	logs := sink.String()
	for _, want := range []string{`"msg":"http request"`, `"level":"ERROR"`, "admin key failures reached the limit"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the scan has too little to look at (no %s):\n%s", want, logs)
		}
	}
	forbidden := map[string]string{
		"token":           tok,
		"token signature": tok[strings.LastIndexByte(tok, '.')+1:],
		"tampered token":  tampered,
		"admin key":       adminKey,
		"JWT secret":      strings.Repeat("s3cr3t-", 6),
	}
	for i, gs := range guesses {
		forbidden["guessed admin key "+string(rune('0'+i))] = gs
	}
	testinfra.ForbidInLogs(t, logs, forbidden)
}
