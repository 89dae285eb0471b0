//go:build !fuzzing

package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/services/auth/internal/ports/httpapi"
)

// TestEmailTricksAre400 sends addresses that try to smuggle a second header
// or recipient, or to pass for another address, through the real handler,
// as raw JSON so the escapes reach the decoder exactly as an attacker would
// write them. Each is 400 INVALID_EMAIL on both routes, and no code request
// reaches Kafka.
func TestEmailTricksAre400(t *testing.T) {
	t.Parallel()
	a := newTestAuth(t, defaults())
	tricks := []struct{ name, jsonEmail string }{
		{"CRLF Bcc injection", `"a@example.com\r\nBcc: victim@example.com"`},
		{"bare LF", `"a@example.com\nX-Hdr: 1"`},
		{"bare CR", `"a@example.com\rb"`},
		{"CR only at end", `"a@example.com\r"`},
		{"escaped NUL", `"a\u0000@example.com"`},
		{"unicode line separator", `"a@example.com\u2028b"`},
		{"next line (NEL)", `"a@example.com\u0085"`},
		{"zero width joiner", `"ad\u200dmin@example.com"`},
		{"zero width no-break space (BOM)", `"\ufeffadmin@example.com"`},
		{"right-to-left override", `"\u202emoc.elpmaxe@a"`},
		{"cyrillic a homoglyph", `"\u0430dmin@example.com"`},
		{"kelvin sign lower-cases to k", `"\u212aelvin@example.com"`},
		{"dotless i upper-case", `"\u0130nfo@example.com"`},
		{"fullwidth at", `"a\uff20example.com"`},
		{"fullwidth letters", `"\uff41@example.com"`},
		{"combining acute", `"a\u0301@example.com"`},
		{"unicode domain", `"a@ex\u00e4mple.com"`},
		{"emoji", `"\ud83d\ude00@example.com"`},
		{"lone surrogate", `"\ud800@example.com"`},
		{"invalid UTF-8 byte", "\"a\xff@example.com\""},
		{"two recipients", `"a@example.com, b@example.com"`},
		{"display name", `"Eve <a@example.com>"`},
		{"quoted local part with CRLF", `"\"a\r\n\"@example.com"`},
		{"braces (redis hash tag)", `"{x}@example.com"`},
		{"too long", `"` + string(make254()) + `@example.com"`},
	}
	for _, tt := range tricks {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			send := `{"email":` + tt.jsonEmail + `}`
			a.post(t, sendPath, uniqueIP(), send).expect(t, http.StatusBadRequest, httpapi.CodeInvalidEmail)
			verify := `{"email":` + tt.jsonEmail + `,"code":"123456"}`
			a.post(t, verifyPath, uniqueIP(), verify).expect(t, http.StatusBadRequest, httpapi.CodeInvalidEmail)
		})
	}
	t.Cleanup(func() { a.codes.expectNone(t, 500*time.Millisecond) })
}

func make254() []byte {
	b := make([]byte, 250)
	for i := range b {
		b[i] = 'a'
	}
	return b
}
