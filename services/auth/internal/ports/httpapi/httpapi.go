// Package httpapi is the auth service's HTTP port: it decodes the two
// /api/auth requests, calls the verification service and maps its errors
// to the API's stable error codes in one place (toAPIError).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/services/auth/internal/verification"
)

// Stable error codes of the auth API, in addition to httpserver's.
const (
	CodeInvalidEmail            = "INVALID_EMAIL"
	CodeInvalidVerificationCode = "INVALID_VERIFICATION_CODE"
	CodeTooManyAttempts         = "TOO_MANY_ATTEMPTS"
)

// unavailableRetry is what a client is told to wait when Redis or Kafka did
// not answer.
const unavailableRetry = 5 * time.Second

// Verifier is what the handlers need from the verification service.
type Verifier interface {
	RequestCode(ctx context.Context, client, email string) error
	Verify(ctx context.Context, client, email, code string) (string, error)
}

var _ Verifier = (*verification.Service)(nil)

// Mount registers the auth routes on engine. trustedProxies are the peers
// whose X-Forwarded-For names the client IP (nginx); everyone else is
// limited by the address they connect from. Limits and codes are per client
// key (httpserver.ClientKey: an IPv6 /64 is one client).
func Mount(engine *gin.Engine, v Verifier, log *slog.Logger, trustedProxies []string) error {
	if err := engine.SetTrustedProxies(trustedProxies); err != nil {
		return fmt.Errorf("trusted proxies: %w", err)
	}
	h := &handlers{v: v, log: log}
	api := engine.Group("/api/auth")
	api.POST("/send-verification-code", h.sendVerificationCode)
	api.POST("/verify-code", h.verifyCode)
	return nil
}

type handlers struct {
	v   Verifier
	log *slog.Logger
}

type sendCodeRequest struct {
	Email string `json:"email"`
}

type verifyCodeRequest struct {
	Email string `json:"email"`
	Code  string `json:"code"`
}

type verifyCodeResult struct {
	TemporaryToken string `json:"temporaryToken"`
}

// nullResult makes the envelope carry "result": null, as the seed's API did.
var nullResult = json.RawMessage("null")

func (h *handlers) sendVerificationCode(c *gin.Context) {
	var req sendCodeRequest
	if apiErr := httpserver.DecodeJSON(c, &req); apiErr != nil {
		httpserver.WriteError(c, apiErr)
		return
	}
	if !printableASCII(req.Email) {
		h.fail(c, verification.ErrInvalidEmail)
		return
	}
	if err := h.v.RequestCode(c.Request.Context(), httpserver.ClientKey(c.ClientIP()), req.Email); err != nil {
		h.fail(c, err)
		return
	}
	httpserver.WriteOK(c, http.StatusOK, "인증 코드가 발송되었습니다.", nullResult)
}

func (h *handlers) verifyCode(c *gin.Context) {
	var req verifyCodeRequest
	if apiErr := httpserver.DecodeJSON(c, &req); apiErr != nil {
		httpserver.WriteError(c, apiErr)
		return
	}
	if !printableASCII(req.Email) {
		h.fail(c, verification.ErrInvalidEmail)
		return
	}
	tok, err := h.v.Verify(c.Request.Context(), httpserver.ClientKey(c.ClientIP()), req.Email, req.Code)
	if err != nil {
		h.fail(c, err)
		return
	}
	httpserver.WriteOK(c, http.StatusOK, "이메일 인증에 성공했습니다.", verifyCodeResult{TemporaryToken: tok})
}

// printableASCII reports whether s has only printable ASCII and spaces. The
// domain trims surrounding whitespace, and Unicode's idea of whitespace
// includes CR, LF, NEL and U+2028; at the edge of the system an address
// carrying any control character or non-ASCII rune, even at its ends, is
// refused outright rather than cleaned up.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// fail answers err and logs it once if it is not the client's doing.
func (h *handlers) fail(c *gin.Context, err error) {
	apiErr := toAPIError(err)
	if apiErr.Status >= http.StatusInternalServerError {
		h.log.Error("auth request failed", "route", c.FullPath(), "status", apiErr.Status,
			"request_id", httpserver.RequestID(c), "err", err)
	}
	httpserver.WriteError(c, apiErr)
}

// toAPIError is the one place where domain errors become HTTP answers.
func toAPIError(err error) *httpserver.Error {
	var limit *verification.LimitError
	switch {
	case errors.Is(err, verification.ErrInvalidEmail):
		return httpserver.NewError(http.StatusBadRequest, CodeInvalidEmail,
			"유효하지 않은 이메일 형식입니다.")
	case errors.Is(err, verification.ErrInvalidCode):
		return httpserver.NewError(http.StatusBadRequest, CodeInvalidVerificationCode,
			"인증 코드가 올바르지 않거나 만료되었습니다.")
	case errors.As(err, &limit) && limit.Limit == verification.LimitAttempts:
		return httpserver.NewError(http.StatusTooManyRequests, CodeTooManyAttempts,
			"인증 시도 횟수를 초과했습니다. 새 코드를 요청해 주세요.").WithRetryAfter(limit.RetryAfter)
	case errors.As(err, &limit):
		return httpserver.NewError(http.StatusTooManyRequests, httpserver.CodeTooManyRequests,
			"요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.").WithRetryAfter(limit.RetryAfter)
	case errors.Is(err, verification.ErrUnavailable):
		return httpserver.NewError(http.StatusServiceUnavailable, httpserver.CodeUnavailable,
			"일시적으로 요청을 처리할 수 없습니다. 잠시 후 다시 시도해 주세요.").WithRetryAfter(unavailableRetry)
	default:
		return httpserver.NewError(http.StatusInternalServerError, httpserver.CodeInternal,
			"서버 내부 오류가 발생했습니다.")
	}
}
