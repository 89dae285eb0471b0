package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/services/auth/internal/codes"
	"github.com/terning-farewell/farewell/services/auth/internal/ports/httpapi"
	"github.com/terning-farewell/farewell/services/auth/internal/verification"
)

// checkingVerifier stands in for the verification service: it applies the
// real email rule and remembers any address that is not clean printable
// ASCII and still got past the handler.
type checkingVerifier struct{ leaked *string }

func (v checkingVerifier) check(email string) error {
	for i := 0; i < len(email); i++ {
		if email[i] < ' ' || email[i] > '~' {
			*v.leaked = email
		}
	}
	if _, err := codes.NormalizeEmail(email); err != nil {
		return verification.ErrInvalidEmail
	}
	return nil
}

func (v checkingVerifier) RequestCode(_ context.Context, _, email string) error {
	return v.check(email)
}

func (v checkingVerifier) Verify(_ context.Context, _, email, code string) (string, error) {
	if err := v.check(email); err != nil {
		return "", err
	}
	if codes.ValidateCode(code) != nil {
		return "", verification.ErrInvalidCode
	}
	return "token", nil
}

// FuzzAuthRequest sends arbitrary bodies to both auth routes through the
// real handler and middleware: every answer is the JSON envelope with a
// matching status, never a 5xx, and the service only ever sees clean emails.
func FuzzAuthRequest(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@example.com"}`, `{"email":"a@example.com","code":"123456"}`, `{"email":"a@example.com\r\nBcc: b@example.com"}`,
		`{"email":"\u212aelvin@example.com"}`, `{"email":5}`, `{"email":"a@example.com","admin":true}`, `{"email":`,
		`[]`, `null`, `{"email":"a@example.com"} {}`, "\x00", `{"email":"` + strings.Repeat("a", 300) + `@example.com"}`,
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := httpserver.New(httpserver.DefaultConfig("127.0.0.1:0"), log, prometheus.NewRegistry(), nil)
	if err != nil {
		f.Fatal(err)
	}
	var leaked string
	if err := httpapi.Mount(srv.Engine(), checkingVerifier{&leaked}, log, nil); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, verify bool, body string) {
		leaked = ""
		path := sendPath
		if verify {
			path = verifyPath
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		var env httpserver.Envelope
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Code == "" || env.Status != rec.Code {
			t.Fatalf("not the JSON envelope for %q: %d %q", body, rec.Code, rec.Body.String())
		}
		if rec.Code >= 500 {
			t.Fatalf("%d for %q", rec.Code, body)
		}
		if leaked != "" {
			t.Fatalf("the handler passed %q to the service", leaked)
		}
	})
}
