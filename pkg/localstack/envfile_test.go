package localstack

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureEnvFileWritesOnceAndLoads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "farewell.env")
	created, err := EnsureEnvFile(path)
	if err != nil || !created {
		t.Fatalf("first EnsureEnvFile = %v, %v; want created", created, err)
	}
	env, err := LoadEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	if env["FAREWELL_MYSQL_DSN"] != MySQLDSN || env["FAREWELL_REDIS_ADDR"] != RedisAddr {
		t.Errorf("addresses: %v", env)
	}
	jwt, err := base64.StdEncoding.DecodeString(env["FAREWELL_JWT_SECRET"])
	if err != nil || len(jwt) != 48 {
		t.Errorf("FAREWELL_JWT_SECRET decodes to %d bytes (%v), want 48", len(jwt), err)
	}
	if len(env["FAREWELL_ADMIN_KEY"]) != 32 {
		t.Errorf("FAREWELL_ADMIN_KEY %q: want 32 hex digits", env["FAREWELL_ADMIN_KEY"])
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	created, err = EnsureEnvFile(path)
	if err != nil || created {
		t.Fatalf("second EnsureEnvFile = %v, %v; want kept", created, err)
	}
	again, err := LoadEnv(path)
	if err != nil || again["FAREWELL_JWT_SECRET"] != env["FAREWELL_JWT_SECRET"] {
		t.Errorf("secrets changed on the second call")
	}
}

func TestEnsureEnvFileAddsTheFairnessSecretsToAnOlderFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "farewell.env")
	if err := os.WriteFile(path, []byte("FAREWELL_JWT_SECRET='kept'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if created, err := EnsureEnvFile(path); err != nil || created {
		t.Fatalf("EnsureEnvFile = %v, %v; want kept", created, err)
	}
	env, err := LoadEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := base64.StdEncoding.DecodeString(env["FAREWELL_RECEIPT_KEY"])
	if err != nil || len(seed) != 32 || len(env["FAREWELL_PARTICIPANT_SALT"]) < 32 || env["FAREWELL_JWT_SECRET"] != "kept" {
		t.Fatalf("env after the upgrade: %v", env)
	}
	before := env["FAREWELL_RECEIPT_KEY"]
	if _, err := EnsureEnvFile(path); err != nil {
		t.Fatal(err)
	}
	if again, _ := LoadEnv(path); again["FAREWELL_RECEIPT_KEY"] != before {
		t.Fatal("the receipt key changed on the next start")
	}
}
