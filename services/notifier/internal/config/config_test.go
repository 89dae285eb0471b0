package config

import (
	"testing"
	"time"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load(pkgconfig.FromMap(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	testinfra.CheckFields(t, []testinfra.Field{
		{Name: "addr", Got: cfg.Common.HTTPAddr, Want: DefaultHTTPAddr},
		{Name: "shutdown timeout", Got: cfg.Common.ShutdownTimeout, Want: 20 * time.Second},
		{Name: "smtp port", Got: cfg.Mail.Port, Want: 1025},
		{Name: "tls", Got: cfg.Mail.TLS, Want: "none"},
		{Name: "rate", Got: cfg.Mail.RatePerSecond, Want: 200.0},
		{Name: "smtp connections", Got: cfg.Mail.Connections, Want: 4},
		{Name: "losers", Got: cfg.NotifyLosers, Want: false},
		{Name: "attempts", Got: cfg.MailMaxAttempts, Want: 5},
		{Name: "codes group", Got: cfg.CodesGroup, Want: "farewell-notifier-codes"},
		{Name: "results group", Got: cfg.ResultsGroup, Want: "farewell-notifier-results"},
		{Name: "codes topic", Got: cfg.CodesTopic, Want: kafka.TopicAuthCodes},
		{Name: "decisions topic", Got: cfg.DecisionsTopic, Want: kafka.TopicDecisions},
	})
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	testinfra.CheckRefused(t, nil, func(env map[string]string) error {
		_, err := Load(pkgconfig.FromMap(env))
		return err
	}, []testinfra.EnvCase{
		{Name: "tls mode", Set: map[string]string{"FAREWELL_SMTP_TLS": "ssl3"}, WantErr: "FAREWELL_SMTP_TLS"},
		{Name: "port", Set: map[string]string{"FAREWELL_SMTP_PORT": "0"}, WantErr: "FAREWELL_SMTP_PORT"},
		{Name: "user without password", Set: map[string]string{"FAREWELL_SMTP_USERNAME": "u"}, WantErr: "FAREWELL_SMTP_PASSWORD"},
		{Name: "cleartext password to remote host", Set: map[string]string{"FAREWELL_SMTP_HOST": "smtp.gmail.com", "FAREWELL_SMTP_USERNAME": "u", "FAREWELL_SMTP_PASSWORD": "p"}, WantErr: "clear text"},
		{Name: "from", Set: map[string]string{"FAREWELL_MAIL_FROM": "not an address"}, WantErr: "FAREWELL_MAIL_FROM"},
		{Name: "attempts", Set: map[string]string{"FAREWELL_MAIL_MAX_ATTEMPTS": "0"}, WantErr: "FAREWELL_MAIL_MAX_ATTEMPTS"},
		{Name: "no smtp connection", Set: map[string]string{"FAREWELL_SMTP_CONNECTIONS": "0"}, WantErr: "FAREWELL_SMTP_CONNECTIONS"},
		{Name: "too many smtp connections", Set: map[string]string{"FAREWELL_SMTP_CONNECTIONS": "33"}, WantErr: "FAREWELL_SMTP_CONNECTIONS"},
		{Name: "same groups", Set: map[string]string{"FAREWELL_RESULTS_GROUP": "farewell-notifier-codes"}, WantErr: "must be set and differ"},
		{Name: "bool", Set: map[string]string{"FAREWELL_NOTIFY_LOSERS": "maybe"}, WantErr: "FAREWELL_NOTIFY_LOSERS"},
	})
}
