package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
)

// DecodeJSON strictly decodes the request body into dst: the content type
// must be JSON, unknown fields and trailing data are refused, and a body over
// the configured limit is a 413. It returns the API error to answer, or nil.
func DecodeJSON(c *gin.Context, dst any) *Error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return NewError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "Content-Type은 application/json 이어야 합니다. (use application/json)")
		}
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return NewError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "요청 본문이 너무 큽니다. (request body too large)")
		}
		return NewError(http.StatusBadRequest, CodeInvalidJSON, "요청 본문을 읽을 수 없습니다. (unreadable body)")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return NewError(http.StatusBadRequest, CodeInvalidJSON, "요청 본문이 비어 있습니다. (request body is required)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return NewError(http.StatusBadRequest, CodeInvalidJSON, "잘못된 JSON 형식입니다. (malformed JSON: "+describeJSONError(err)+")")
	}
	if dec.More() {
		return NewError(http.StatusBadRequest, CodeInvalidJSON, "JSON 뒤에 불필요한 데이터가 있습니다. (trailing data after JSON)")
	}
	return nil
}

// describeJSONError names the problem without echoing the client's input.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return "syntax error"
	case errors.As(err, &typeErr):
		return "field " + typeErr.Field + " has the wrong type"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	default:
		msg := err.Error()
		if len(msg) > 80 {
			msg = msg[:80]
		}
		return msg
	}
}
