package config

import (
	"strings"
	"testing"
	"time"
)

func TestEnvTypedValues(t *testing.T) {
	t.Parallel()
	e := FromMap(map[string]string{
		"A_INT": "42", "A_DUR": "250ms", "A_BOOL": "true", "A_LIST": "x, y,,z", "BAD_INT": "4x", "BAD_DUR": "10",
	})
	if e.Int("A_INT", 1) != 42 || e.Duration("A_DUR", 0) != 250*time.Millisecond || !e.Bool("A_BOOL", false) {
		t.Fatal("typed values not read")
	}
	if got := strings.Join(e.List("A_LIST", nil), "|"); got != "x|y|z" {
		t.Fatalf("list = %q", got)
	}
	if e.Int("MISSING", 7) != 7 || e.String("MISSING", "d") != "d" {
		t.Fatal("defaults not used")
	}
	if e.Err() != nil {
		t.Fatalf("unexpected error: %v", e.Err())
	}
	e.Int("BAD_INT", 0)
	e.Duration("BAD_DUR", 0)
	e.Required("NOPE")
	err := e.Err()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"BAD_INT", "BAD_DUR", "NOPE is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not mention %s", err, want)
		}
	}
}

func TestSecretRefusesWeakValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string
		ok    bool
	}{
		{"random", "q8Zt3LmP0vX1nR7sK2wY5bJ9cE4hF6gA", true},
		{"empty", "", false},
		{"short", "abc123", false},
		{"well known", "changeme-changeme-changeme-changeme", false},
		{"one character repeated", strings.Repeat("a", 40), false},
		{"contains secret", "mysecretvalue-0123456789-abcdefgh", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := FromMap(map[string]string{"S": tt.value})
			e.Secret("S", 32)
			if (e.Err() == nil) != tt.ok {
				t.Fatalf("Secret(%q) err = %v, want ok=%v", tt.value, e.Err(), tt.ok)
			}
			if e.Err() != nil && tt.value != "" && strings.Contains(e.Err().Error(), tt.value) {
				t.Fatal("the error message echoes the secret")
			}
		})
	}
}
