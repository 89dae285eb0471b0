package token

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	secretA = []byte(strings.Repeat("a1B2c3D4", 5))
	secretB = []byte(strings.Repeat("z9Y8x7W6", 5))
)

func newCodec(t testing.TB, mutate func(*Config)) *Codec {
	t.Helper()
	cfg := Config{Current: Key{ID: "k2", Secret: secretA}, Previous: []Key{{ID: "k1", Secret: secretB}},
		Issuer: "farewell-auth", Audience: "farewell-event", TTL: 10 * time.Minute, Event: testEvent}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testEvent is the event of newCodec's tokens; sign names it too.
const testEvent = "final-gift"

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, rc jwt.RegisteredClaims) string {
	t.Helper()
	return signFor(t, method, key, kid, testEvent, rc)
}

// signFor signs rc with the event claim evt ("" leaves it out).
func signFor(t *testing.T, method jwt.SigningMethod, key any, kid, evt string, rc jwt.RegisteredClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims{Event: evt, RegisteredClaims: rc})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func goodClaims() jwt.RegisteredClaims {
	now := time.Now()
	return jwt.RegisteredClaims{
		Subject: "p@example.com", Issuer: "farewell-auth", Audience: jwt.ClaimStrings{"farewell-event"},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}
}

func TestMintVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	c := newCodec(t, nil)
	raw, err := c.Mint("p@example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Verify(raw)
	if err != nil || got.Email != "p@example.com" {
		t.Fatalf("verify = %+v, %v", got, err)
	}
	// A token signed with the previous key (rotation) is still accepted.
	old := sign(t, jwt.SigningMethodHS256, secretB, "k1", goodClaims())
	if _, err := c.Verify(old); err != nil {
		t.Fatalf("previous key refused: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	c := newCodec(t, nil)
	now := time.Now()
	with := func(f func(*jwt.RegisteredClaims)) jwt.RegisteredClaims {
		cl := goodClaims()
		f(&cl)
		return cl
	}
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	valid := sign(t, jwt.SigningMethodHS256, secretA, "k2", goodClaims())
	parts := strings.Split(valid, ".")
	tamperedPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin@example.com","iss":"farewell-auth","aud":["farewell-event"],"exp":9999999999,"iat":1}`))
	tests := []struct {
		name string
		raw  string
	}{
		{"alg none", noneTok},
		{"alg HS512", sign(t, jwt.SigningMethodHS512, secretA, "k2", goodClaims())},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("wrongkey", 5)), "k2", goodClaims())},
		{"unknown kid", sign(t, jwt.SigningMethodHS256, secretA, "k9", goodClaims())},
		{"missing kid", sign(t, jwt.SigningMethodHS256, secretA, "", goodClaims())},
		{"expired", sign(t, jwt.SigningMethodHS256, secretA, "k2", with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) }))},
		{"no expiry", sign(t, jwt.SigningMethodHS256, secretA, "k2", with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }))},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, secretA, "k2", with(func(c *jwt.RegisteredClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }))},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, secretA, "k2", with(func(c *jwt.RegisteredClaims) { c.Issuer = "evil" }))},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, secretA, "k2", with(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"other"} }))},
		{"no subject", sign(t, jwt.SigningMethodHS256, secretA, "k2", with(func(c *jwt.RegisteredClaims) { c.Subject = "" }))},
		{"another event", signFor(t, jwt.SigningMethodHS256, secretA, "k2", "other-event", with(func(*jwt.RegisteredClaims) {}))},
		{"no event", signFor(t, jwt.SigningMethodHS256, secretA, "k2", "", with(func(*jwt.RegisteredClaims) {}))},
		{"tampered claims", parts[0] + "." + tamperedPayload + "." + parts[2]},
		{"garbage", "not.a.token"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := c.Verify(tt.raw); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestNewRefusesWeakConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"short secret", func(c *Config) { c.Current.Secret = []byte("short") }},
		{"missing kid", func(c *Config) { c.Current.ID = "" }},
		{"duplicate kid", func(c *Config) { c.Previous[0].ID = c.Current.ID }},
		{"no issuer", func(c *Config) { c.Issuer = "" }},
		{"zero ttl", func(c *Config) { c.TTL = 0 }},
		{"no event", func(c *Config) { c.Event = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Current: Key{ID: "k2", Secret: secretA}, Previous: []Key{{ID: "k1", Secret: secretB}},
				Issuer: "i", Audience: "a", TTL: time.Minute, Event: testEvent}
			tt.mutate(&cfg)
			if _, err := New(cfg); err == nil {
				t.Fatal("New accepted a weak configuration")
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	c, err := New(Config{Current: Key{ID: "k", Secret: secretA}, Issuer: "i", Audience: "a", TTL: time.Minute, Event: testEvent})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := c.Mint("p@example.com", time.Now())
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		claims, err := c.Verify(raw)
		if err == nil && raw != good && claims.Email == "" {
			t.Fatalf("accepted a token without a subject: %q", raw)
		}
	})
}
