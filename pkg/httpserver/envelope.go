// Package httpserver builds Farewell's gin engines: the JSON envelope of the
// API contract, request ids, access logs, body limits, metrics, health and
// readiness endpoints, and graceful shutdown.
package httpserver

import (
	"encoding/json"
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
	// body is the envelope, encoded once by NewError.
	body []byte
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError returns an API error. Its envelope is encoded here, once: an
// error kept in a variable costs no encoding per answer.
func NewError(status int, code, message string) *Error {
	e := &Error{Status: status, Code: code, Message: message}
	e.body, _ = json.Marshal(Envelope{Status: status, Code: code, Message: message})
	return e
}

// Body is a success envelope encoded once, for answers that never change
// (WriteBody sends it).
type Body struct {
	status int
	raw    []byte
}

// NewBody encodes the success envelope of status, message and result.
func NewBody(status int, message string, result any) (*Body, error) {
	raw, err := json.Marshal(Envelope{Status: status, Code: CodeOK, Message: message, Result: result})
	if err != nil {
		return nil, err
	}
	return &Body{status: status, raw: raw}, nil
}

// MustBody is NewBody for package-level answers built from constants.
func MustBody(status int, message string, result any) *Body {
	b, err := NewBody(status, message, result)
	if err != nil {
		panic(err)
	}
	return b
}

// jsonContentType is what gin's JSON renderer sends.
const jsonContentType = "application/json; charset=utf-8"

// WriteBody answers with a pre-encoded success envelope.
func WriteBody(c *gin.Context, b *Body) { c.Data(b.status, jsonContentType, b.raw) }

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
	if e.body == nil {
		// Built as a literal rather than with NewError.
		c.AbortWithStatusJSON(e.Status, Envelope{Status: e.Status, Code: e.Code, Message: e.Message})
		return
	}
	c.Abort()
	c.Data(e.Status, jsonContentType, e.body)
}

// Common errors that every service answers the same way.
var (
	errNotFound         = NewError(http.StatusNotFound, CodeNotFound, "요청한 경로를 찾을 수 없습니다. (not found)")
	errMethodNotAllowed = NewError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "허용되지 않은 메서드입니다. (method not allowed)")
	errInternal         = NewError(http.StatusInternalServerError, CodeInternal, "서버 내부 오류가 발생했습니다. (internal error)")
	errBodyTooLarge     = NewError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "요청 본문이 너무 큽니다. (request body too large)")
)
