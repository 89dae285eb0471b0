// Package config loads apply-gateway's settings from the environment.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/token"
)

// DefaultHTTPAddr is where apply-gateway listens unless FAREWELL_HTTP_ADDR says otherwise.
const DefaultHTTPAddr = "127.0.0.1:8083"

// Config is everything apply-gateway reads at start-up.
type Config struct {
	Common            pkgconfig.Common
	Token             token.Config
	AdminKey          string
	ApplicationsTopic string
	AdminTopic        string
	PublishTimeout    time.Duration
	AdmissionGrace    time.Duration
	MaxInFlight       int
	SoldOutRefresh    time.Duration
	KafkaLinger       time.Duration
	MaxBodyBytes      int64
	// RedisBufferBytes sizes each Redis connection's read and write buffer
	// (FAREWELL_REDIS_BUFFER_BYTES, default 4 KiB: the gateway's commands
	// and replies are small, and go-redis's own 32 KiB each, on every
	// pooled connection, is heap the collector scans during a herd).
	RedisBufferBytes int
	// TrustedProxies are the peers (IPs or CIDRs) whose X-Forwarded-For
	// names the client, as in auth: nginx on the same host by default.
	// Everyone else is known by the address they connect from.
	TrustedProxies []string
	// ClockSkew, for chaos tests only, shifts this replica's own clock as
	// the admission service sees it (FAREWELL_CLOCK_SKEW, e.g. "2h"). The
	// window, the grace and admission times come from Redis's clock, so it
	// must change nothing; chaos "gateway-clock-skew" shows it.
	ClockSkew time.Duration
	// Receipts is the Ed25519 key that signs receipts and the log's head
	// (FAREWELL_RECEIPT_KID, FAREWELL_RECEIPT_KEY, FAREWELL_RECEIPT_PREVIOUS_KEYS).
	Receipts fairlog.KeyConfig
	// ParticipantSalt keys the participant hash of receipts; stock-consumer
	// must have the same (FAREWELL_PARTICIPANT_SALT).
	ParticipantSalt []byte
}

// MinAdminKeyBytes is the shortest admin key accepted.
const MinAdminKeyBytes = 24

// Load reads and validates the configuration.
func Load(e *pkgconfig.Env) (Config, error) {
	c := Config{
		Common:            pkgconfig.LoadCommon(e, "apply-gateway", DefaultHTTPAddr),
		Token:             token.LoadConfig(e),
		AdminKey:          e.Secret("FAREWELL_ADMIN_KEY", MinAdminKeyBytes),
		ApplicationsTopic: e.String("FAREWELL_APPLICATIONS_TOPIC", kafka.TopicApplications),
		AdminTopic:        e.String("FAREWELL_ADMIN_TOPIC", kafka.TopicAdmin),
		PublishTimeout:    e.Duration("FAREWELL_PUBLISH_TIMEOUT", 3*time.Second),
		AdmissionGrace:    e.Duration("FAREWELL_ADMISSION_GRACE", 15*time.Second),
		MaxInFlight:       e.Int("FAREWELL_MAX_IN_FLIGHT", 4096),
		SoldOutRefresh:    e.Duration("FAREWELL_SOLDOUT_REFRESH", 200*time.Millisecond),
		KafkaLinger:       e.Duration("FAREWELL_KAFKA_LINGER", 2*time.Millisecond),
		MaxBodyBytes:      int64(e.Int("FAREWELL_MAX_BODY_BYTES", 16<<10)),
		RedisBufferBytes:  e.Int("FAREWELL_REDIS_BUFFER_BYTES", 4<<10),
		TrustedProxies:    e.List("FAREWELL_TRUSTED_PROXIES", []string{"127.0.0.1", "::1"}),
		ClockSkew:         e.Duration("FAREWELL_CLOCK_SKEW", 0),
		Receipts:          fairlog.LoadKeyConfig(e),
		ParticipantSalt:   fairlog.LoadSalt(e),
	}
	e.Record(c.Validate())
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks ranges and relations between settings.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate()}
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.AdmissionGrace <= c.PublishTimeout {
		fail("FAREWELL_ADMISSION_GRACE (%s) must exceed FAREWELL_PUBLISH_TIMEOUT (%s)", c.AdmissionGrace, c.PublishTimeout)
	}
	if c.MaxInFlight < 1 {
		fail("FAREWELL_MAX_IN_FLIGHT must be positive")
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			fail("FAREWELL_TRUSTED_PROXIES: %q is neither an IP nor a CIDR", p)
		}
	}
	if c.RedisBufferBytes < 1<<10 || c.RedisBufferBytes > 1<<20 {
		fail("FAREWELL_REDIS_BUFFER_BYTES must be between 1024 and 1048576")
	}
	if c.SoldOutRefresh <= 0 {
		fail("FAREWELL_SOLDOUT_REFRESH must be positive")
	}
	return errors.Join(errs...)
}
