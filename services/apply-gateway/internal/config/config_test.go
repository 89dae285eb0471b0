package config

import (
	"strings"
	"testing"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

func validEnv() map[string]string {
	return map[string]string{
		"FAREWELL_JWT_SECRET": "R7tY2uI9oP4aS1dF6gH3jK8lZ5xC0vBn",
		"FAREWELL_ADMIN_KEY":  "Vb3Nq8Ws1Ex6Rc4Tz9Ym2Ul7",
		// A 32-byte Ed25519 seed, base64.
		"FAREWELL_RECEIPT_KEY":      "q3Jx9VbT2mLk8ZpR4wYc7NdF1sHg6UeA0oIiKtEyBnM=",
		"FAREWELL_PARTICIPANT_SALT": "Hn4Tq8Vz1Lc6Xw3Rb9Pk2Mj7Fs5Gd0Ya",
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
	testinfra.CheckRefused(t, validEnv, func(env map[string]string) error {
		_, err := Load(pkgconfig.FromMap(env))
		return err
	}, []testinfra.EnvCase{
		{Name: "FAREWELL_ADMIN_KEY/unset", Unset: []string{"FAREWELL_ADMIN_KEY"}, WantErr: "FAREWELL_ADMIN_KEY is required"},
		{Name: "FAREWELL_ADMIN_KEY/empty", Set: map[string]string{"FAREWELL_ADMIN_KEY": ""}, WantErr: "FAREWELL_ADMIN_KEY is required"},
		{Name: "FAREWELL_ADMIN_KEY/blank", Set: map[string]string{"FAREWELL_ADMIN_KEY": "   "}, WantErr: "FAREWELL_ADMIN_KEY is required"},
		{Name: "FAREWELL_ADMIN_KEY/23 bytes", Set: map[string]string{"FAREWELL_ADMIN_KEY": "Vb3Nq8Ws1Ex6Rc4Tz9Ym2Ul"}, WantErr: "FAREWELL_ADMIN_KEY is too short"},
		{Name: "FAREWELL_ADMIN_KEY/contains admin", Set: map[string]string{"FAREWELL_ADMIN_KEY": "admin-Vb3Nq8Ws1Ex6Rc4Tz9Ym"}, WantErr: "FAREWELL_ADMIN_KEY is too weak"},
		{Name: "FAREWELL_ADMIN_KEY/digits", Set: map[string]string{"FAREWELL_ADMIN_KEY": "123456781234567812345678"}, WantErr: "FAREWELL_ADMIN_KEY is too weak"},
		{Name: "FAREWELL_ADMIN_KEY/low entropy", Set: map[string]string{"FAREWELL_ADMIN_KEY": strings.Repeat("xy", 16)}, WantErr: "FAREWELL_ADMIN_KEY is too weak"},
		{Name: "FAREWELL_JWT_SECRET/unset", Unset: []string{"FAREWELL_JWT_SECRET"}, WantErr: "FAREWELL_JWT_SECRET is required"},
		{Name: "FAREWELL_JWT_SECRET/empty", Set: map[string]string{"FAREWELL_JWT_SECRET": ""}, WantErr: "FAREWELL_JWT_SECRET is required"},
		{Name: "FAREWELL_JWT_SECRET/31 bytes", Set: map[string]string{"FAREWELL_JWT_SECRET": "R7tY2uI9oP4aS1dF6gH3jK8lZ5xC0vB"}, WantErr: "FAREWELL_JWT_SECRET is too short"},
		{Name: "FAREWELL_JWT_SECRET/password", Set: map[string]string{"FAREWELL_JWT_SECRET": "password-R7tY2uI9oP4aS1dF6gH3jK8l"}, WantErr: "FAREWELL_JWT_SECRET is too weak"},
		{Name: "FAREWELL_JWT_SECRET/low entropy", Set: map[string]string{"FAREWELL_JWT_SECRET": strings.Repeat("ab", 20)}, WantErr: "FAREWELL_JWT_SECRET is too weak"},
		{Name: "FAREWELL_RECEIPT_KEY/unset", Unset: []string{"FAREWELL_RECEIPT_KEY"}, WantErr: "FAREWELL_RECEIPT_KEY is required"},
		{Name: "FAREWELL_RECEIPT_KEY/not a seed", Set: map[string]string{"FAREWELL_RECEIPT_KEY": "q3Jx9VbT2mLk8ZpR4wYc7NdF1sHg6UeA0oIiKtEyBnMq3Jx9"}, WantErr: "FAREWELL_RECEIPT_KEY must be a 32-byte Ed25519 seed"},
		{Name: "FAREWELL_PARTICIPANT_SALT/unset", Unset: []string{"FAREWELL_PARTICIPANT_SALT"}, WantErr: "FAREWELL_PARTICIPANT_SALT is required"},
		{Name: "FAREWELL_PARTICIPANT_SALT/short", Set: map[string]string{"FAREWELL_PARTICIPANT_SALT": "Hn4Tq8Vz1Lc6Xw3R"}, WantErr: "FAREWELL_PARTICIPANT_SALT is too short"},
	}, "FAREWELL_JWT_SECRET", "FAREWELL_ADMIN_KEY", "FAREWELL_RECEIPT_KEY", "FAREWELL_PARTICIPANT_SALT")
}

func TestLoadRefusesBadTrustedProxies(t *testing.T) {
	t.Parallel()
	m := validEnv()
	m["FAREWELL_TRUSTED_PROXIES"] = "127.0.0.1,nginx"
	if _, err := Load(pkgconfig.FromMap(m)); err == nil || !strings.Contains(err.Error(), "FAREWELL_TRUSTED_PROXIES") {
		t.Fatalf("Load error = %v", err)
	}
}
