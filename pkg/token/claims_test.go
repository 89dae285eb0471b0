package token

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mintedPayload is the claims JSON of a token Mint wrote.
func mintedPayload(t testing.TB, c *Codec, identity, delivery string) []byte {
	t.Helper()
	raw, err := c.MintFor(identity, delivery, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestDecodeFastClaimsReadsWhatMintWrites: Mint's payloads decode to what
// encoding/json makes of them; every other shape is handed back (false).
func TestDecodeFastClaimsReadsWhatMintWrites(t *testing.T) {
	t.Parallel()
	c := newCodec(t, nil)
	for _, body := range [][]byte{
		mintedPayload(t, c, "a@example.com", "a@example.com"),
		mintedPayload(t, c, "ab@gmail.com", "A.B+x@GMail.com"),
		[]byte(`{"aud":"farewell-event","sub":"a@example.com","exp":1764700000}`),
		[]byte(`{}`),
	} {
		got, ok := decodeFastClaims(body)
		var want fastClaims
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatal(err)
		}
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("decodeFastClaims(%s) = %+v, %v; encoding/json: %+v", body, got, ok, want)
		}
	}
	for _, body := range []string{
		``, `{`, `{"sub":"a"`, `{"sub":"a"}x`, `{"sub":"a"} `, ` {"sub":"a"}`, `{"sub" :"a"}`, `{"sub":"a" }`,
		`{"sub":"a","sub":"b"}`, `{"SUB":"a"}`, `{"jti":"x"}`, `{"sub":null}`, `{"sub":1}`, `{"sub":"a\"b"}`,
		`{"sub":"a\u0041"}`, "{\"sub\":\"\xff\"}", "{\"sub\":\"é\"}", "{\"sub\":\"a\tb\"}", `{"exp":-1}`,
		`{"exp":1.5}`, `{"exp":1e9}`, `{"exp":01}`, `{"exp":"1"}`, `{"exp":1234567890123}`, `{"aud":["a","b"]}`,
		`{"aud":[]}`, `{"aud":["a"}`, `{"aud":1}`, `{"sub":"a",}`, `{,}`,
	} {
		if got, ok := decodeFastClaims([]byte(body)); ok {
			t.Errorf("decodeFastClaims(%q) took it: %+v; it must go to the parser", body, got)
		}
	}
}

// FuzzDecodeFastClaimsMatchesEncodingJSON: whatever decodeFastClaims
// accepts, encoding/json accepts too and decodes to the same claims.
func FuzzDecodeFastClaimsMatchesEncodingJSON(f *testing.F) {
	c := newCodec(f, nil)
	f.Add(mintedPayload(f, c, "a@example.com", "a@example.com"))
	f.Add(mintedPayload(f, c, "ab@gmail.com", "A.B+x@GMail.com"))
	f.Add([]byte(`{"aud":["x"],"exp":0,"nbf":9,"iat":10}`))
	f.Add([]byte(`{"sub":"a","sub":"b"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := decodeFastClaims(body)
		if !ok {
			return
		}
		var want fastClaims
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("decodeFastClaims took %q, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeFastClaims(%q) = %+v, encoding/json: %+v", body, got, want)
		}
	})
}

func BenchmarkDecodeFastClaims(b *testing.B) {
	body := mintedPayload(b, newCodec(b, nil), "ab@gmail.com", "A.B+x@GMail.com")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := decodeFastClaims(body); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkDecodeClaimsEncodingJSON(b *testing.B) {
	body := mintedPayload(b, newCodec(b, nil), "ab@gmail.com", "A.B+x@GMail.com")
	b.ReportAllocs()
	for b.Loop() {
		var c fastClaims
		if err := json.Unmarshal(body, &c); err != nil {
			b.Fatal(err)
		}
	}
}
