// Package httpserver builds Farewell's gin engines: the JSON envelope of the
// API contract, request ids, access logs, body limits, metrics, health and
// readiness endpoints, and graceful shutdown.
package httpserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// Stable error codes shared by every service. Services add their own.
const (
	CodeOK                   = "OK"
	CodeBadRequest           = "BAD_REQUEST"
	CodeInvalidJSON          = "INVALID_JSON"
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	CodePayloadTooLarge      = "PAYLOAD_TOO_LARGE"
	CodeUnauthorized         = "UNAUTHORIZED"
	CodeNotFound             = "NOT_FOUND"
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	CodeTooManyRequests      = "TOO_MANY_REQUESTS"
	CodeInternal             = "INTERNAL_ERROR"
	CodeUnavailable          = "SERVICE_UNAVAILABLE"
)

// Envelope is the body of every response: {"status","code","message","result"}.
type Envelope struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Result  any    `json:"result,omitempty"`
}

// Error is an API error: it carries everything needed to answer the client.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when set, is sent as the Retry-After header (whole seconds).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError returns an API error.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// WithRetryAfter returns a copy of e that tells the client when to retry.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// WriteOK answers with a success envelope.
func WriteOK(c *gin.Context, status int, message string, result any) {
	c.JSON(status, Envelope{Status: status, Code: CodeOK, Message: message, Result: result})
}

// WriteError answers with an error envelope and aborts the chain.
func WriteError(c *gin.Context, e *Error) {
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		c.Header("Retry-After", strconv.Itoa(secs))
	}
	c.AbortWithStatusJSON(e.Status, Envelope{Status: e.Status, Code: e.Code, Message: e.Message})
}

// Common errors that every service answers the same way.
var (
	errNotFound         = NewError(http.StatusNotFound, CodeNotFound, "요청한 경로를 찾을 수 없습니다. (not found)")
	errMethodNotAllowed = NewError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "허용되지 않은 메서드입니다. (method not allowed)")
	errInternal         = NewError(http.StatusInternalServerError, CodeInternal, "서버 내부 오류가 발생했습니다. (internal error)")
)
