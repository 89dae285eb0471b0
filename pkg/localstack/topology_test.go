package localstack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHATopologyComponents(t *testing.T) {
	names := map[string]bool{}
	for _, c := range HA.Components() {
		if names[c.Name] {
			t.Errorf("component %s twice", c.Name)
		}
		names[c.Name] = true
	}
	for _, want := range []string{"redis", "redis-replica", "sentinel-1", "sentinel-3", "kafka", "kafka-2", "kafka-3", "mariadb", "nginx"} {
		if !names[want] {
			t.Errorf("HA has no %s", want)
		}
	}
	if got := strings.Join(HA.KafkaAddrs(), ","); got != "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096" {
		t.Errorf("HA brokers = %s", got)
	}
	if len(Small.Infrastructure()) != len(Infrastructure()) {
		t.Errorf("the small topology must be the stack's infrastructure table")
	}
	if _, err := TopologyNamed("big"); err == nil {
		t.Error("unknown topology accepted")
	}
}

func TestSetEnvReplacesAppendsAndRemoves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "farewell.env")
	if err := os.WriteFile(path, []byte("# c\nFAREWELL_REDIS_ADDR='a'\nFAREWELL_REDIS_MASTER='m'\nFAREWELL_JWT_KID='k'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetEnv(path, HA.Env()); err != nil {
		t.Fatal(err)
	}
	env, err := LoadEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	if env["FAREWELL_JWT_KID"] != "k" || env["FAREWELL_REDIS_MASTER"] != "farewell" || !strings.Contains(env["FAREWELL_REDIS_SENTINELS"], ":26380") ||
		!strings.Contains(env["FAREWELL_MYSQL_DSN"], "/farewell_ha?") {
		t.Fatalf("after HA: %v", env)
	}
	if err := SetEnv(path, Small.Env()); err != nil {
		t.Fatal(err)
	}
	env, _ = LoadEnv(path)
	if _, ok := env["FAREWELL_REDIS_SENTINELS"]; ok || env["FAREWELL_KAFKA_BROKERS"] != KafkaAddr || env["FAREWELL_REDIS_ADDR"] != RedisAddr ||
		env["FAREWELL_MYSQL_DSN"] != MySQLDSN {
		t.Fatalf("after small: %v", env)
	}
}
