package config

import (
	"strings"
	"testing"
	"time"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
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
	checks := []struct {
		name      string
		got, want any
	}{
		{"addr", cfg.Common.HTTPAddr, DefaultHTTPAddr},
		{"shutdown timeout", cfg.Common.ShutdownTimeout, 20 * time.Second},
		{"ttl", cfg.Codes.TTL, 5 * time.Minute},
		{"cooldown", cfg.Codes.ResendCooldown, 60 * time.Second},
		{"hourly", cfg.Codes.HourlyLimit, 5},
		{"attempts", cfg.Codes.MaxAttempts, 5},
		{"ip requests", cfg.Codes.IPRequestLimit, 30},
		{"ip verifies", cfg.Codes.IPVerifyLimit, 60},
		{"topic", cfg.CodesTopic, kafka.TopicAuthCodes},
		{"publish timeout", cfg.PublishTimeout, 5 * time.Second},
		{"linger", cfg.KafkaLinger, 2 * time.Millisecond},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		set     map[string]string
		wantErr string
	}{
		{"missing code secret", map[string]string{"FAREWELL_CODE_SECRET": ""}, "FAREWELL_CODE_SECRET is required"},
		{"short code secret", map[string]string{"FAREWELL_CODE_SECRET": "x7Kq2"}, "FAREWELL_CODE_SECRET is too short"},
		{"weak code secret", map[string]string{"FAREWELL_CODE_SECRET": "changeme-changeme-changeme-changeme"}, "too weak"},
		{"bad duration", map[string]string{"FAREWELL_CODE_TTL": "five"}, "FAREWELL_CODE_TTL"},
		{"ttl too long", map[string]string{"FAREWELL_CODE_TTL": "2h"}, "FAREWELL_CODE_TTL"},
		{"cooldown above ttl", map[string]string{"FAREWELL_CODE_RESEND_COOLDOWN": "10m"}, "FAREWELL_CODE_RESEND_COOLDOWN"},
		{"zero attempts", map[string]string{"FAREWELL_CODE_MAX_ATTEMPTS": "0"}, "FAREWELL_CODE_MAX_ATTEMPTS"},
		{"zero ip limit", map[string]string{"FAREWELL_IP_RATE_LIMIT": "0"}, "FAREWELL_IP_RATE_LIMIT"},
		{"bad proxy", map[string]string{"FAREWELL_TRUSTED_PROXIES": "nginx"}, "FAREWELL_TRUSTED_PROXIES"},
		{"publish timeout", map[string]string{"FAREWELL_PUBLISH_TIMEOUT": "1ms"}, "FAREWELL_PUBLISH_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := validEnv()
			for k, v := range tt.set {
				m[k] = v
			}
			_, err := Load(configEnv(m))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), m["FAREWELL_CODE_SECRET"]) && m["FAREWELL_CODE_SECRET"] != "" {
				t.Fatal("error message echoes the secret")
			}
		})
	}
}
