package config

import (
	"strings"
	"testing"
	"time"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
)

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load(pkgconfig.FromMap(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"addr", cfg.Common.HTTPAddr, DefaultHTTPAddr},
		{"shutdown timeout", cfg.Common.ShutdownTimeout, 20 * time.Second},
		{"smtp port", cfg.Mail.Port, 1025},
		{"tls", cfg.Mail.TLS, "none"},
		{"rate", cfg.Mail.RatePerSecond, 200.0},
		{"losers", cfg.NotifyLosers, false},
		{"attempts", cfg.MailMaxAttempts, 5},
		{"codes group", cfg.CodesGroup, "farewell-notifier-codes"},
		{"results group", cfg.ResultsGroup, "farewell-notifier-results"},
		{"codes topic", cfg.CodesTopic, kafka.TopicAuthCodes},
		{"decisions topic", cfg.DecisionsTopic, kafka.TopicDecisions},
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
		env     map[string]string
		wantErr string
	}{
		{"tls mode", map[string]string{"FAREWELL_SMTP_TLS": "ssl3"}, "FAREWELL_SMTP_TLS"},
		{"port", map[string]string{"FAREWELL_SMTP_PORT": "0"}, "FAREWELL_SMTP_PORT"},
		{"user without password", map[string]string{"FAREWELL_SMTP_USERNAME": "u"}, "FAREWELL_SMTP_PASSWORD"},
		{"cleartext password to remote host", map[string]string{"FAREWELL_SMTP_HOST": "smtp.gmail.com", "FAREWELL_SMTP_USERNAME": "u", "FAREWELL_SMTP_PASSWORD": "p"}, "clear text"},
		{"from", map[string]string{"FAREWELL_MAIL_FROM": "not an address"}, "FAREWELL_MAIL_FROM"},
		{"attempts", map[string]string{"FAREWELL_MAIL_MAX_ATTEMPTS": "0"}, "FAREWELL_MAIL_MAX_ATTEMPTS"},
		{"same groups", map[string]string{"FAREWELL_RESULTS_GROUP": "farewell-notifier-codes"}, "must be set and differ"},
		{"bool", map[string]string{"FAREWELL_NOTIFY_LOSERS": "maybe"}, "FAREWELL_NOTIFY_LOSERS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(pkgconfig.FromMap(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}
