package config

import (
	"strings"
	"testing"

	"github.com/terning-farewell/farewell/pkg/testinfra"
)

// TestLoadRefusesEmptyOrWeakSecrets: auth holds two secrets, the JWT signing
// key and the HMAC key of stored codes. Each is refused when missing, empty,
// blank, short, well known or of low entropy, and the error names the
// variable without echoing its value.
func TestLoadRefusesEmptyOrWeakSecrets(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"FAREWELL_JWT_SECRET", "FAREWELL_CODE_SECRET"} {
		set := func(name, value string) testinfra.EnvCase {
			return testinfra.EnvCase{Name: key + "/" + name, Set: map[string]string{key: value}}
		}
		testinfra.CheckRefused(t, validEnv, load, []testinfra.EnvCase{
			{Name: key + "/unset", Unset: []string{key}, WantErr: key + " is required"},
			withErr(set("empty", ""), key+" is required"),
			withErr(set("blank", "    "), key+" is required"),
			withErr(set("short", "Zq8Lm2Xv7Rt4"), key+" is too short"),
			withErr(set("31 bytes", "q8Zr2LmN4vX7pT1sW9yK3bH6jD0fG5c"), key+" is too short"),
			withErr(set("well known word", "my-super-secret-value-0123456789abcdef"), key+" is too weak"),
			withErr(set("changeme", "changeme-changeme-changeme-changeme!"), key+" is too weak"),
			withErr(set("low entropy", strings.Repeat("ab", 20)), key+" is too weak"),
		}, "FAREWELL_JWT_SECRET", "FAREWELL_CODE_SECRET")
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

func withErr(c testinfra.EnvCase, want string) testinfra.EnvCase {
	c.WantErr = want
	return c
}
