//go:build !fuzzing

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/observability"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/services/auth/internal/ports/httpapi"
)

// TestLogsCarryNoCodeTokenOrSecret runs the whole auth journey, its refusals
// and a broker failure with the service's real JSON logger at debug level,
// then scans every line: no verification code, no token (nor its
// signature), no stored HMAC and no secret may appear; nor may a code, an
// email or a token be a metric label.
func TestLogsCarryNoCodeTokenOrSecret(t *testing.T) {
	t.Parallel()
	sink := &testinfra.LogSink{}
	log, err := observability.NewLogger(sink, "debug", "auth", "logscan")
	if err != nil {
		t.Fatal(err)
	}
	o := defaults()
	o.log = log
	a := newTestAuth(t, o)
	ip := uniqueIP()
	email := uniqueEmail()

	a.post(t, sendPath, ip, sendBody(email)).expect(t, http.StatusOK, httpserver.CodeOK)
	code := a.nextCodeRequest(t, email).GetCode()
	a.post(t, sendPath, ip, sendBody(email)).expect(t, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)
	a.post(t, verifyPath, ip, verifyBody(email, wrongCode(code))).expect(t, http.StatusBadRequest, httpapi.CodeInvalidVerificationCode)
	r := a.post(t, verifyPath, ip, verifyBody(email, code))
	r.expect(t, http.StatusOK, httpserver.CodeOK)
	var res struct {
		TemporaryToken string `json:"temporaryToken"`
	}
	if err := json.Unmarshal(r.env.Result, &res); err != nil || res.TemporaryToken == "" {
		t.Fatalf("no token: %s", r.raw)
	}
	a.post(t, verifyPath, ip, verifyBody(email, code)).expect(t, http.StatusBadRequest, httpapi.CodeInvalidVerificationCode)
	a.post(t, sendPath, ip, `{"email":"a@example.com\r\nBcc: x@example.com"}`).expect(t, http.StatusBadRequest, httpapi.CodeInvalidEmail)

	// The error path logs the cause: a broker that is gone.
	down := defaults()
	down.log = log
	down.closeProducer = true
	b := newTestAuth(t, down)
	other := uniqueEmail()
	b.post(t, sendPath, uniqueIP(), sendBody(other)).expect(t, http.StatusServiceUnavailable, httpserver.CodeUnavailable)

	logs := sink.String()
	if strings.Count(logs, "\n") < 7 || !strings.Contains(logs, `"msg":"http request"`) || !strings.Contains(logs, `"level":"ERROR"`) {
		t.Fatalf("the scan has too little to look at:\n%s", logs)
	}
	sig := res.TemporaryToken[strings.LastIndexByte(res.TemporaryToken, '.')+1:]
	forbidden := map[string]string{
		"verification code": `"` + code + `"`,
		"code in text":      "code=" + code,
		"token":             res.TemporaryToken,
		"token signature":   sig,
		"stored code HMAC":  a.hasher.Sum(email, code),
		"JWT secret":        "t0k3n-s3cr3t-for-tests-0123456789abcdef",
		"code secret":       "c0d3-s3cr3t-for-tests-0123456789abcdef",
		"injected header":   "Bcc: x@example.com",
	}
	testinfra.ForbidInLogs(t, logs, forbidden)
	// Nor may a metric label: labels are bounded sets (routes, outcomes).
	for _, reg := range []*testAuth{a, b} {
		families, err := reg.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if v := l.GetValue(); strings.Contains(v, code) || strings.Contains(v, email) || strings.Contains(v, sig) {
						t.Errorf("metric %s label %s=%q carries a code, an email or a token", f.GetName(), l.GetName(), v)
					}
				}
			}
		}
	}
	// A bare six-digit code can collide with numbers in a log line (the
	// time's nanoseconds, a duration); look for it in every string value
	// but the time instead.
	testinfra.ForbidInLogFields(t, logs, code)
}
