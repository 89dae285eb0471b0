package config

import (
	"strings"
	"testing"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
)

func validEnv() map[string]string {
	return map[string]string{
		"FAREWELL_JWT_SECRET": "R7tY2uI9oP4aS1dF6gH3jK8lZ5xC0vBn",
		"FAREWELL_ADMIN_KEY":  "Vb3Nq8Ws1Ex6Rc4Tz9Ym2Ul7",
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(pkgconfig.FromMap(validEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminKey != validEnv()["FAREWELL_ADMIN_KEY"] || c.Common.HTTPAddr != DefaultHTTPAddr || c.MaxBodyBytes != 16<<10 {
		t.Fatalf("unexpected defaults: addr %s, body %d", c.Common.HTTPAddr, c.MaxBodyBytes)
	}
	if strings.Join(c.TrustedProxies, ",") != "127.0.0.1,::1" {
		t.Fatalf("trusted proxies = %v", c.TrustedProxies)
	}
}

// TestLoadRefusesEmptyOrWeakSecrets: apply-gateway holds the JWT key and the
// admin key; each is refused when missing, empty, short, well known or of
// low entropy, and the error names the variable without echoing the value.
func TestLoadRefusesEmptyOrWeakSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key   string
		name  string
		value *string
		want  string
	}{
		{"FAREWELL_ADMIN_KEY", "unset", nil, "FAREWELL_ADMIN_KEY is required"},
		{"FAREWELL_ADMIN_KEY", "empty", ptr(""), "FAREWELL_ADMIN_KEY is required"},
		{"FAREWELL_ADMIN_KEY", "blank", ptr("   "), "FAREWELL_ADMIN_KEY is required"},
		{"FAREWELL_ADMIN_KEY", "23 bytes", ptr("Vb3Nq8Ws1Ex6Rc4Tz9Ym2Ul"), "FAREWELL_ADMIN_KEY is too short"},
		{"FAREWELL_ADMIN_KEY", "contains admin", ptr("admin-Vb3Nq8Ws1Ex6Rc4Tz9Ym"), "FAREWELL_ADMIN_KEY is too weak"},
		{"FAREWELL_ADMIN_KEY", "digits", ptr("123456781234567812345678"), "FAREWELL_ADMIN_KEY is too weak"},
		{"FAREWELL_ADMIN_KEY", "low entropy", ptr(strings.Repeat("xy", 16)), "FAREWELL_ADMIN_KEY is too weak"},
		{"FAREWELL_JWT_SECRET", "unset", nil, "FAREWELL_JWT_SECRET is required"},
		{"FAREWELL_JWT_SECRET", "empty", ptr(""), "FAREWELL_JWT_SECRET is required"},
		{"FAREWELL_JWT_SECRET", "31 bytes", ptr("R7tY2uI9oP4aS1dF6gH3jK8lZ5xC0vB"), "FAREWELL_JWT_SECRET is too short"},
		{"FAREWELL_JWT_SECRET", "password", ptr("password-R7tY2uI9oP4aS1dF6gH3jK8l"), "FAREWELL_JWT_SECRET is too weak"},
		{"FAREWELL_JWT_SECRET", "low entropy", ptr(strings.Repeat("ab", 20)), "FAREWELL_JWT_SECRET is too weak"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			m := validEnv()
			if tt.value == nil {
				delete(m, tt.key)
			} else {
				m[tt.key] = *tt.value
			}
			_, err := Load(pkgconfig.FromMap(m))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want it to mention %q", err, tt.want)
			}
			if tt.value != nil && strings.TrimSpace(*tt.value) != "" && strings.Contains(err.Error(), *tt.value) {
				t.Fatal("the error echoes the secret")
			}
		})
	}
}

func TestLoadRefusesBadTrustedProxies(t *testing.T) {
	t.Parallel()
	m := validEnv()
	m["FAREWELL_TRUSTED_PROXIES"] = "127.0.0.1,nginx"
	if _, err := Load(pkgconfig.FromMap(m)); err == nil || !strings.Contains(err.Error(), "FAREWELL_TRUSTED_PROXIES") {
		t.Fatalf("Load error = %v", err)
	}
}

func ptr(s string) *string { return &s }
