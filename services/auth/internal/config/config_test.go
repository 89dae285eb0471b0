package config

import (
	"testing"
	"time"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/services/auth/internal/codes"
)

func configEnv(m map[string]string) *pkgconfig.Env { return pkgconfig.FromMap(m) }

func validEnv() map[string]string {
	return map[string]string{
		"FAREWELL_CODE_SECRET": "q8Zr2LmN4vX7pT1sW9yK3bH6jD0fG5cA",
		"FAREWELL_JWT_SECRET":  "R7tY2uI9oP4aS1dF6gH3jK8lZ5xC0vBn",
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load(configEnv(validEnv()))
	if err != nil {
		t.Fatal(err)
	}
	testinfra.CheckFields(t, []testinfra.Field{
		{Name: "addr", Got: cfg.Common.HTTPAddr, Want: DefaultHTTPAddr},
		{Name: "shutdown timeout", Got: cfg.Common.ShutdownTimeout, Want: 20 * time.Second},
		{Name: "ttl", Got: cfg.Codes.TTL, Want: 5 * time.Minute},
		{Name: "cooldown", Got: cfg.Codes.ResendCooldown, Want: 60 * time.Second},
		{Name: "hourly", Got: cfg.Codes.HourlyLimit, Want: 5},
		{Name: "attempts", Got: cfg.Codes.MaxAttempts, Want: 5},
		{Name: "ip requests", Got: cfg.Codes.IPRequestLimit, Want: 30},
		{Name: "ip verifies", Got: cfg.Codes.IPVerifyLimit, Want: 60},
		{Name: "address limit", Got: cfg.Codes.AddressLimit, Want: 10},
		{Name: "address window", Got: cfg.Codes.AddressWindow, Want: 5 * time.Minute},
		{Name: "email policy", Got: cfg.Codes.Policy, Want: codes.PolicyMailbox},
		{Name: "token event", Got: cfg.Token.Event, Want: cfg.Common.EventID},
		{Name: "topic", Got: cfg.CodesTopic, Want: kafka.TopicAuthCodes},
		{Name: "publish timeout", Got: cfg.PublishTimeout, Want: 5 * time.Second},
		{Name: "linger", Got: cfg.KafkaLinger, Want: 2 * time.Millisecond},
	})
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	testinfra.CheckRefused(t, validEnv, load, []testinfra.EnvCase{
		{Name: "missing code secret", Set: map[string]string{"FAREWELL_CODE_SECRET": ""}, WantErr: "FAREWELL_CODE_SECRET is required"},
		{Name: "short code secret", Set: map[string]string{"FAREWELL_CODE_SECRET": "x7Kq2"}, WantErr: "FAREWELL_CODE_SECRET is too short"},
		{Name: "weak code secret", Set: map[string]string{"FAREWELL_CODE_SECRET": "changeme-changeme-changeme-changeme"}, WantErr: "too weak"},
		{Name: "bad duration", Set: map[string]string{"FAREWELL_CODE_TTL": "five"}, WantErr: "FAREWELL_CODE_TTL"},
		{Name: "ttl too long", Set: map[string]string{"FAREWELL_CODE_TTL": "2h"}, WantErr: "FAREWELL_CODE_TTL"},
		{Name: "cooldown above ttl", Set: map[string]string{"FAREWELL_CODE_RESEND_COOLDOWN": "10m"}, WantErr: "FAREWELL_CODE_RESEND_COOLDOWN"},
		{Name: "zero attempts", Set: map[string]string{"FAREWELL_CODE_MAX_ATTEMPTS": "0"}, WantErr: "FAREWELL_CODE_MAX_ATTEMPTS"},
		{Name: "zero ip limit", Set: map[string]string{"FAREWELL_IP_RATE_LIMIT": "0"}, WantErr: "FAREWELL_IP_RATE_LIMIT"},
		{Name: "unknown email policy", Set: map[string]string{"FAREWELL_EMAIL_POLICY": "loose"}, WantErr: "FAREWELL_EMAIL_POLICY"},
		{Name: "zero address limit", Set: map[string]string{"FAREWELL_CODE_ADDRESS_LIMIT": "0"}, WantErr: "FAREWELL_CODE_ADDRESS_LIMIT"},
		{Name: "address window too long", Set: map[string]string{"FAREWELL_CODE_ADDRESS_WINDOW": "2h"}, WantErr: "FAREWELL_CODE_ADDRESS_WINDOW"},
		{Name: "bad proxy", Set: map[string]string{"FAREWELL_TRUSTED_PROXIES": "nginx"}, WantErr: "FAREWELL_TRUSTED_PROXIES"},
		{Name: "publish timeout", Set: map[string]string{"FAREWELL_PUBLISH_TIMEOUT": "1ms"}, WantErr: "FAREWELL_PUBLISH_TIMEOUT"},
	}, "FAREWELL_CODE_SECRET")
}

func load(env map[string]string) error {
	_, err := Load(configEnv(env))
	return err
}
