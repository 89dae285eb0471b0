// Package config loads and validates the notifier's settings from the
// environment, once, at start-up.
package config

import (
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strings"
	"time"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/mail"
)

// DefaultHTTPAddr serves only /healthz, /readyz and /metrics.
const DefaultHTTPAddr = "127.0.0.1:8086"

// Config is every setting of the notifier.
type Config struct {
	Common pkgconfig.Common
	// Mail configures each of the two SMTP senders (codes and results);
	// RatePerSecond and Connections apply to each sender, and a batch
	// delivers up to Connections emails at once.
	Mail mail.Config
	// NotifyLosers mails participants who did not win.
	NotifyLosers bool
	// MailMaxAttempts bounds in-batch retries of one email on temporary
	// SMTP failures before the batch is retried later.
	MailMaxAttempts int
	CodesGroup      string
	ResultsGroup    string
	CodesTopic      string
	DecisionsTopic  string
	// MaxBatch caps the messages handed to one batch.
	MaxBatch int
	// MaxAttempts bounds the attempts of a batch that fails while the
	// servers answer (a recipient the SMTP server keeps deferring, a marker
	// Redis refuses); then the message that fails alone is dead-lettered.
	// SMTP or Redis being down is retried without bound.
	MaxAttempts int
	// MarkerReplicas is how many Redis replicas must hold a "sent" marker
	// before the notifier moves on (WAIT): with a replica behind Sentinel,
	// 1 keeps a failover from forgetting a marker the old primary had
	// acknowledged (and mailing that winner again). 0 (one Redis) skips it.
	MarkerReplicas int
	// MarkerWait bounds that wait for each marker.
	MarkerWait time.Duration
}

// Load reads the configuration from e and validates it.
func Load(e *pkgconfig.Env) (Config, error) {
	cfg := Config{
		Common: pkgconfig.LoadCommon(e, "notifier", DefaultHTTPAddr),
		Mail: mail.Config{
			Host:          e.String("FAREWELL_SMTP_HOST", "127.0.0.1"),
			Port:          e.Int("FAREWELL_SMTP_PORT", 1025),
			TLS:           strings.ToLower(e.String("FAREWELL_SMTP_TLS", mail.TLSNone)),
			Username:      e.String("FAREWELL_SMTP_USERNAME", ""),
			Password:      e.String("FAREWELL_SMTP_PASSWORD", ""),
			From:          e.String("FAREWELL_MAIL_FROM", "no-reply@farewell.local"),
			Timeout:       e.Duration("FAREWELL_SMTP_TIMEOUT", 10*time.Second),
			RatePerSecond: float64(e.Int("FAREWELL_MAIL_RATE", 200)),
			Connections:   e.Int("FAREWELL_SMTP_CONNECTIONS", 4),
		},
		NotifyLosers:    e.Bool("FAREWELL_NOTIFY_LOSERS", false),
		MailMaxAttempts: e.Int("FAREWELL_MAIL_MAX_ATTEMPTS", 5),
		CodesGroup:      e.String("FAREWELL_CODES_GROUP", "farewell-notifier-codes"),
		ResultsGroup:    e.String("FAREWELL_RESULTS_GROUP", "farewell-notifier-results"),
		CodesTopic:      e.String("FAREWELL_CODES_TOPIC", kafka.TopicAuthCodes),
		DecisionsTopic:  e.String("FAREWELL_DECISIONS_TOPIC", kafka.TopicDecisions),
		MaxBatch:        e.Int("FAREWELL_NOTIFIER_MAX_BATCH", 100),
		MaxAttempts:     e.Int("FAREWELL_NOTIFIER_MAX_ATTEMPTS", 5),
		MarkerReplicas:  e.Int("FAREWELL_NOTIFIER_MARKER_REPLICAS", 0),
		MarkerWait:      e.Duration("FAREWELL_NOTIFIER_MARKER_WAIT", 500*time.Millisecond),
	}
	e.Record(cfg.Validate())
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks ranges and relations between settings.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate()}
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	m := c.Mail
	if m.Host == "" {
		fail("FAREWELL_SMTP_HOST must not be empty")
	}
	if m.Port < 1 || m.Port > 65535 {
		fail("FAREWELL_SMTP_PORT must be 1-65535")
	}
	switch m.TLS {
	case mail.TLSNone, mail.TLSStartTLS, mail.TLSImplicit:
	default:
		fail("FAREWELL_SMTP_TLS must be none, starttls or tls")
	}
	if m.Username != "" && m.Password == "" {
		fail("FAREWELL_SMTP_PASSWORD is required with FAREWELL_SMTP_USERNAME")
	}
	if m.Username != "" && m.TLS == mail.TLSNone && !loopback(m.Host) {
		fail("FAREWELL_SMTP_TLS=none would send the SMTP password in clear text to %s", m.Host)
	}
	if addr, err := netmail.ParseAddress(m.From); err != nil || strings.ContainsAny(m.From, "\r\n") {
		fail("FAREWELL_MAIL_FROM is not an email address")
	} else if !strings.Contains(addr.Address, "@") {
		fail("FAREWELL_MAIL_FROM needs a domain")
	}
	// A send must finish well inside the 45 s "sending" claim (delivery.SendingTTL): the
	// retries of one email stop one timeout before the claim expires.
	if m.Timeout < time.Second || m.Timeout > 30*time.Second {
		fail("FAREWELL_SMTP_TIMEOUT must be between 1s and 30s")
	}
	if m.RatePerSecond < 0 {
		fail("FAREWELL_MAIL_RATE must be zero (unlimited) or positive")
	}
	if m.Connections < 1 || m.Connections > 32 {
		fail("FAREWELL_SMTP_CONNECTIONS must be between 1 and 32")
	}
	if c.MarkerReplicas < 0 || c.MarkerReplicas > 5 {
		fail("FAREWELL_NOTIFIER_MARKER_REPLICAS must be between 0 and 5")
	}
	if c.MarkerWait < 10*time.Millisecond || c.MarkerWait > 5*time.Second {
		fail("FAREWELL_NOTIFIER_MARKER_WAIT must be between 10ms and 5s")
	}
	if c.MailMaxAttempts < 1 || c.MailMaxAttempts > 20 {
		fail("FAREWELL_MAIL_MAX_ATTEMPTS must be between 1 and 20")
	}
	if c.CodesGroup == "" || c.ResultsGroup == "" || c.CodesGroup == c.ResultsGroup {
		fail("FAREWELL_CODES_GROUP and FAREWELL_RESULTS_GROUP must be set and differ")
	}
	if c.CodesTopic == "" || c.DecisionsTopic == "" || c.CodesTopic == c.DecisionsTopic {
		fail("FAREWELL_CODES_TOPIC and FAREWELL_DECISIONS_TOPIC must be set and differ")
	}
	if c.MaxBatch < 1 || c.MaxBatch > 5000 {
		fail("FAREWELL_NOTIFIER_MAX_BATCH must be between 1 and 5000")
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		fail("FAREWELL_NOTIFIER_MAX_ATTEMPTS must be between 1 and 100")
	}
	return errors.Join(errs...)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
