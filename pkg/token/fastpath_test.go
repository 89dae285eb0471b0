package token

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestFastPathTakesMintedTokens: Mint's tokens, current key and previous,
// are verified without the generic parser.
func TestFastPathTakesMintedTokens(t *testing.T) {
	t.Parallel()
	c := newCodec(t, func(cfg *Config) { cfg.Leeway = 5 * time.Second })
	now := time.Now()
	raw, err := c.Mint("a@example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := c.fast.verify(raw, now)
	if !ok || got.Email != "a@example.com" || got.Delivery != "a@example.com" || got.Event != testEvent || !got.ExpiresAt.Equal(now.Add(10*time.Minute).Truncate(time.Second)) {
		t.Fatalf("fast path on a minted token = %+v, %v", got, ok)
	}
	raw, err = c.MintFor("ab@gmail.com", "A.B+x@GMail.com", now)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c.fast.verify(raw, now); !ok || got.Email != "ab@gmail.com" || got.Delivery != "A.B+x@GMail.com" {
		t.Fatalf("fast path on a token with a delivery address = %+v, %v", got, ok)
	}
	if got, err := c.Verify(raw + "x"); err == nil {
		t.Fatalf("a broken signature was accepted: %+v", got)
	}
	other := newCodec(t, func(cfg *Config) { cfg.Event = "other-event" })
	if got, err := other.Verify(raw); err == nil {
		t.Fatalf("a token for another event was accepted: %+v", got)
	}
	old := newCodec(t, func(cfg *Config) { cfg.Current = Key{ID: "k1", Secret: secretB}; cfg.Previous = nil })
	raw, err = old.Mint("b@example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c.fast.verify(raw, now); !ok || got.Email != "b@example.com" {
		t.Fatalf("fast path on a previous key's token = %+v, %v", got, ok)
	}
}

// TestFastPathNeverAcceptsWhatTheParserRefuses runs tokens around every
// limit through both paths: whatever the fast path accepts, golang-jwt's
// parser must accept too (the fast path may hand more to the parser).
func TestFastPathNeverAcceptsWhatTheParserRefuses(t *testing.T) {
	t.Parallel()
	const leeway = 5 * time.Second
	c := newCodec(t, func(cfg *Config) { cfg.Leeway = leeway })
	now := time.Now()
	base := jwt.RegisteredClaims{Subject: "a@example.com", Issuer: "farewell-auth", Audience: jwt.ClaimStrings{"farewell-event"}}
	var tokens []string
	for _, d := range []time.Duration{-2 * time.Hour, -leeway - time.Second, -leeway, -leeway + time.Second, -time.Second, 0, time.Second,
		leeway - time.Second, leeway, leeway + time.Second, time.Hour} {
		at := jwt.NewNumericDate(now.Add(d))
		for _, mutate := range []func(*jwt.RegisteredClaims){
			func(rc *jwt.RegisteredClaims) { rc.ExpiresAt = at },
			func(rc *jwt.RegisteredClaims) {
				rc.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour))
				rc.NotBefore = at
			},
			func(rc *jwt.RegisteredClaims) {
				rc.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour))
				rc.IssuedAt = at
			},
		} {
			rc := base
			mutate(&rc)
			tokens = append(tokens, sign(t, jwt.SigningMethodHS256, secretA, "k2", rc))
		}
	}
	for _, mutate := range []func(*jwt.RegisteredClaims){
		func(rc *jwt.RegisteredClaims) { rc.Issuer = "someone-else" },
		func(rc *jwt.RegisteredClaims) { rc.Audience = jwt.ClaimStrings{"other"} },
		func(rc *jwt.RegisteredClaims) { rc.Audience = nil },
		func(rc *jwt.RegisteredClaims) { rc.Subject = "" },
		func(rc *jwt.RegisteredClaims) { rc.ExpiresAt = nil },
	} {
		rc := base
		rc.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour))
		mutate(&rc)
		tokens = append(tokens, sign(t, jwt.SigningMethodHS256, secretA, "k2", rc))
	}
	good := base
	good.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour))
	valid := sign(t, jwt.SigningMethodHS256, secretA, "k2", good)
	tokens = append(tokens,
		signFor(t, jwt.SigningMethodHS256, secretA, "k2", "other-event", good), // another event
		signFor(t, jwt.SigningMethodHS256, secretA, "k2", "", good),            // no event
		sign(t, jwt.SigningMethodHS256, secretB, "k2", good),                   // wrong key for the kid
		sign(t, jwt.SigningMethodHS384, secretA, "k2", good),                   // another algorithm
		valid[:len(valid)-2]+"xx",                                              // broken signature
		valid+".",                                                              // a fourth segment
		valid[:len(valid)-1],                                                   // cut short
	)
	accepted := 0
	for i, raw := range tokens {
		if _, ok := c.fast.verify(raw, now); !ok {
			continue
		}
		accepted++
		var rc claims
		if _, err := c.parser.ParseWithClaims(raw, &rc, func(*jwt.Token) (any, error) { return secretA, nil }); err != nil || rc.Event != c.cfg.Event {
			t.Errorf("token %d: fast path accepted what the parser refuses: %v (event %q)", i, err, rc.Event)
		}
	}
	if accepted == 0 {
		t.Fatal("the fast path accepted none of the valid tokens")
	}
}

func BenchmarkVerify(b *testing.B) {
	cfg := Config{Current: Key{ID: "k2", Secret: secretA}, Issuer: "farewell-auth", Audience: "farewell-event", TTL: 10 * time.Minute, Leeway: 5 * time.Second, Event: testEvent}
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := c.Mint("a@example.com", time.Now())
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Verify(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parser", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var rc jwt.RegisteredClaims
			if _, err := c.parser.ParseWithClaims(raw, &rc, func(*jwt.Token) (any, error) { return secretA, nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The fast path's pooled buffers must never mix two tokens checked at once.
func TestConcurrentVerifyKeepsEachTokensClaims(t *testing.T) {
	c, err := New(Config{Current: Key{ID: "k2", Secret: secretA}, Issuer: "farewell-auth", Audience: "farewell-event",
		TTL: 10 * time.Minute, Leeway: 5 * time.Second, Event: testEvent})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				email := fmt.Sprintf("racer-%d-%d@example.com", g, i)
				raw, err := c.MintFor(email, "Racer."+email, time.Now().Add(-time.Minute))
				if err != nil {
					t.Error(err)
					return
				}
				got, err := c.Verify(raw)
				if err != nil || got.Email != email || got.Delivery != "Racer."+email {
					t.Errorf("token of %s verified as %+v, %v", email, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
