package config

import (
	"strings"
	"testing"
)

// TestLoadRefusesEmptyOrWeakSecrets: auth holds two secrets, the JWT signing
// key and the HMAC key of stored codes. Each is refused when missing, empty,
// blank, short, well known or of low entropy, and the error names the
// variable without echoing its value.
func TestLoadRefusesEmptyOrWeakSecrets(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"FAREWELL_JWT_SECRET", "FAREWELL_CODE_SECRET"} {
		tests := []struct {
			name  string
			value *string
			want  string
		}{
			{"unset", nil, key + " is required"},
			{"empty", ptr(""), key + " is required"},
			{"blank", ptr("    "), key + " is required"},
			{"short", ptr("Zq8Lm2Xv7Rt4"), key + " is too short"},
			{"31 bytes", ptr("q8Zr2LmN4vX7pT1sW9yK3bH6jD0fG5c"), key + " is too short"},
			{"well known word", ptr("my-super-secret-value-0123456789abcdef"), key + " is too weak"},
			{"changeme", ptr("changeme-changeme-changeme-changeme!"), key + " is too weak"},
			{"low entropy", ptr(strings.Repeat("ab", 20)), key + " is too weak"},
		}
		for _, tt := range tests {
			t.Run(key+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				m := validEnv()
				if tt.value == nil {
					delete(m, key)
				} else {
					m[key] = *tt.value
				}
				_, err := Load(configEnv(m))
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Load error = %v, want it to mention %q", err, tt.want)
				}
				if tt.value != nil && strings.TrimSpace(*tt.value) != "" && strings.Contains(err.Error(), *tt.value) {
					t.Fatal("the error echoes the secret")
				}
			})
		}
	}
	t.Run("a previous JWT key that is too short", func(t *testing.T) {
		t.Parallel()
		m := validEnv()
		m["FAREWELL_JWT_PREVIOUS_KEYS"] = "k0:short"
		if _, err := Load(configEnv(m)); err == nil || !strings.Contains(err.Error(), "FAREWELL_JWT_PREVIOUS_KEYS") || strings.Contains(err.Error(), "short") && strings.Contains(err.Error(), "k0:short") {
			t.Fatalf("Load error = %v", err)
		}
	})
	if _, err := Load(configEnv(validEnv())); err != nil {
		t.Fatalf("strong secrets refused: %v", err)
	}
}

func ptr(s string) *string { return &s }
