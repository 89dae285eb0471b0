// Package config loads and validates the auth service's settings from the
// environment, once, at start-up.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/token"
	"github.com/terning-farewell/farewell/services/auth/internal/codes"
)

// DefaultHTTPAddr is where auth listens unless FAREWELL_HTTP_ADDR says otherwise.
const DefaultHTTPAddr = "127.0.0.1:8081"

// Config is every setting of the auth service.
type Config struct {
	Common pkgconfig.Common
	Token  token.Config
	Codes  Codes
	// CodesTopic receives VerificationCodeRequested messages.
	CodesTopic string
	// PublishTimeout bounds how long a request waits for the broker's ack.
	PublishTimeout time.Duration
	// KafkaLinger is how long the producer batches messages.
	KafkaLinger time.Duration
	// TrustedProxies are the addresses (or CIDRs) whose X-Forwarded-For is
	// believed when finding the client IP for per-IP limits.
	TrustedProxies []string
}

// Codes are the verification-code rules and limits.
type Codes struct {
	// Secret is the HMAC key that binds a code to an email.
	Secret []byte
	// TTL is how long a code stays valid.
	TTL time.Duration
	// ResendCooldown is the minimum pause between two codes for one email.
	ResendCooldown time.Duration
	// HourlyLimit caps the codes one client gets for one address per hour.
	HourlyLimit int
	// AddressLimit caps the codes one address gets, all clients together,
	// per AddressWindow: small and short, so that strangers asking for a
	// participant's address delay them by one window at most.
	AddressLimit int
	// AddressWindow is the fixed window of AddressLimit.
	AddressWindow time.Duration
	// Policy says which addresses are one mailbox, hence one participant.
	Policy codes.Policy
	// MaxAttempts is how many wrong codes burn the current one.
	MaxAttempts int
	// IPRequestLimit caps code requests per client IP per IPWindow.
	IPRequestLimit int
	// IPVerifyLimit caps verify calls per client IP per IPWindow.
	IPVerifyLimit int
	// IPWindow is the fixed window of the per-IP limits (one minute).
	IPWindow time.Duration
}

// Load reads the configuration from e and validates it.
func Load(e *pkgconfig.Env) (Config, error) {
	cfg := Config{
		Common: pkgconfig.LoadCommon(e, "auth", DefaultHTTPAddr),
		Token:  token.LoadConfig(e),
		Codes: Codes{
			Secret:         []byte(e.Secret("FAREWELL_CODE_SECRET", 32)),
			TTL:            e.Duration("FAREWELL_CODE_TTL", 5*time.Minute),
			ResendCooldown: e.Duration("FAREWELL_CODE_RESEND_COOLDOWN", 60*time.Second),
			HourlyLimit:    e.Int("FAREWELL_CODE_HOURLY_LIMIT", 5),
			AddressLimit:   e.Int("FAREWELL_CODE_ADDRESS_LIMIT", 10),
			AddressWindow:  e.Duration("FAREWELL_CODE_ADDRESS_WINDOW", 5*time.Minute),
			Policy:         codes.Policy(e.String("FAREWELL_EMAIL_POLICY", string(codes.PolicyMailbox))),
			MaxAttempts:    e.Int("FAREWELL_CODE_MAX_ATTEMPTS", 5),
			IPRequestLimit: e.Int("FAREWELL_IP_RATE_LIMIT", 30),
			IPVerifyLimit:  e.Int("FAREWELL_IP_VERIFY_LIMIT", 60),
			IPWindow:       time.Minute,
		},
		CodesTopic:     e.String("FAREWELL_CODES_TOPIC", kafka.TopicAuthCodes),
		PublishTimeout: e.Duration("FAREWELL_PUBLISH_TIMEOUT", 5*time.Second),
		KafkaLinger:    e.Duration("FAREWELL_KAFKA_LINGER", 2*time.Millisecond),
		TrustedProxies: e.List("FAREWELL_TRUSTED_PROXIES", []string{"127.0.0.1", "::1"}),
	}
	e.Record(cfg.Validate())
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks the ranges and relations Load cannot check one by one.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate()}
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	k := c.Codes
	if len(k.Secret) < 32 {
		fail("FAREWELL_CODE_SECRET must be at least 32 bytes")
	}
	if k.TTL < 30*time.Second || k.TTL > time.Hour {
		fail("FAREWELL_CODE_TTL must be between 30s and 1h")
	}
	if k.ResendCooldown < time.Second || k.ResendCooldown > k.TTL {
		fail("FAREWELL_CODE_RESEND_COOLDOWN must be between 1s and FAREWELL_CODE_TTL")
	}
	if k.HourlyLimit < 1 {
		fail("FAREWELL_CODE_HOURLY_LIMIT must be at least 1")
	}
	if k.AddressLimit < 1 {
		fail("FAREWELL_CODE_ADDRESS_LIMIT must be at least 1")
	}
	if k.AddressWindow < time.Second || k.AddressWindow > time.Hour {
		fail("FAREWELL_CODE_ADDRESS_WINDOW must be between 1s and 1h")
	}
	if _, err := codes.ParsePolicy(string(k.Policy)); err != nil {
		fail("FAREWELL_EMAIL_POLICY: %v", err)
	}
	if k.MaxAttempts < 1 || k.MaxAttempts > 20 {
		fail("FAREWELL_CODE_MAX_ATTEMPTS must be between 1 and 20")
	}
	if k.IPRequestLimit < 1 {
		fail("FAREWELL_IP_RATE_LIMIT must be at least 1")
	}
	if k.IPVerifyLimit < 1 {
		fail("FAREWELL_IP_VERIFY_LIMIT must be at least 1")
	}
	if k.IPWindow < time.Second {
		fail("per-IP window must be at least 1s")
	}
	if strings.TrimSpace(c.CodesTopic) == "" {
		fail("FAREWELL_CODES_TOPIC must not be empty")
	}
	if c.PublishTimeout < 100*time.Millisecond || c.PublishTimeout > time.Minute {
		fail("FAREWELL_PUBLISH_TIMEOUT must be between 100ms and 1m")
	}
	if c.KafkaLinger < 0 || c.KafkaLinger > time.Second {
		fail("FAREWELL_KAFKA_LINGER must be between 0 and 1s")
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			fail("FAREWELL_TRUSTED_PROXIES: %q is neither an IP nor a CIDR", p)
		}
	}
	return errors.Join(errs...)
}
