// Package config loads stock-consumer's settings from the environment.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/mysqlstore"
)

// DefaultHTTPAddr serves only /healthz, /readyz and /metrics.
const DefaultHTTPAddr = "127.0.0.1:8085"

// Config is everything stock-consumer reads at start-up.
type Config struct {
	Common            pkgconfig.Common
	MySQLDSN          string
	MySQLMaxOpenConns int
	GroupID           string
	ApplicationsTopic string
	DecisionsTopic    string
	AdminTopic        string
	// MaxBatch bounds a batch; its decisions go to MySQL in one INSERT,
	// which holds at most mysqlstore.MaxDecisionsPerInsert rows.
	MaxBatch int
	// MaxAttempts bounds the attempts of a batch that fails while the
	// servers answer (MySQL refusing a value, say) before it is retried in
	// halves and the failing message dead-lettered; a server that is down
	// is retried without bound.
	MaxAttempts int
	// StrandedAfter is how long an admission may stay unpublished before
	// stock-consumer decides it itself; it must exceed the gateways'
	// admission grace plus publish timeout (15 s + 3 s by default).
	StrandedAfter time.Duration
	// FaultPoint, for chaos tests only, makes the process exit at that step
	// of the first batch it handles ("after-decide", "after-persist", "after-publish").
	FaultPoint string
	// ParticipantSalt keys the participant hashes of the decision log; it
	// must equal apply-gateway's (the receipts carry the same hash).
	ParticipantSalt []byte
	// LogFreezeAfter is how long after the window closed the decision log
	// is frozen; it must exceed StrandedAfter, so the admissions decided
	// without their message are in the log before it freezes.
	LogFreezeAfter time.Duration
}

// Load reads and validates the configuration.
func Load(e *pkgconfig.Env) (Config, error) {
	c := Config{
		Common:            pkgconfig.LoadCommon(e, "stock-consumer", DefaultHTTPAddr),
		MySQLDSN:          e.Required("FAREWELL_MYSQL_DSN"),
		MySQLMaxOpenConns: e.Int("FAREWELL_MYSQL_MAX_OPEN_CONNS", 8),
		GroupID:           e.String("FAREWELL_CONSUMER_GROUP", "farewell-stock-consumer"),
		ApplicationsTopic: e.String("FAREWELL_APPLICATIONS_TOPIC", kafka.TopicApplications),
		DecisionsTopic:    e.String("FAREWELL_DECISIONS_TOPIC", kafka.TopicDecisions),
		AdminTopic:        e.String("FAREWELL_ADMIN_TOPIC", kafka.TopicAdmin),
		MaxBatch:          e.Int("FAREWELL_CONSUMER_MAX_BATCH", 5000),
		MaxAttempts:       e.Int("FAREWELL_CONSUMER_MAX_ATTEMPTS", 5),
		StrandedAfter:     e.Duration("FAREWELL_STRANDED_AFTER", 20*time.Second),
		FaultPoint:        e.String("FAREWELL_FAULT_POINT", ""),
		ParticipantSalt:   fairlog.LoadSalt(e),
		LogFreezeAfter:    e.Duration("FAREWELL_LOG_FREEZE_AFTER", time.Minute),
	}
	e.Record(c.Validate())
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks ranges and relations between settings. An empty DSN is
// reported by Load, which names the variable as required.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate()}
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.GroupID) == "" {
		fail("FAREWELL_CONSUMER_GROUP must not be empty")
	}
	if c.MaxBatch < 1 || c.MaxBatch > mysqlstore.MaxDecisionsPerInsert {
		fail("FAREWELL_CONSUMER_MAX_BATCH must be between 1 and %d (%d placeholders of %d per row fit one MySQL INSERT)",
			mysqlstore.MaxDecisionsPerInsert, mysqlstore.MaxPlaceholders, mysqlstore.ColumnsPerDecision)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		fail("FAREWELL_CONSUMER_MAX_ATTEMPTS must be between 1 and 100")
	}
	if c.StrandedAfter < time.Second {
		fail("FAREWELL_STRANDED_AFTER must be at least 1s (and exceed the gateways' FAREWELL_ADMISSION_GRACE)")
	}
	if c.LogFreezeAfter <= c.StrandedAfter {
		fail("FAREWELL_LOG_FREEZE_AFTER (%s) must exceed FAREWELL_STRANDED_AFTER (%s)", c.LogFreezeAfter, c.StrandedAfter)
	}
	switch c.FaultPoint {
	case "", "after-decide", "after-persist", "after-publish":
	default:
		fail("FAREWELL_FAULT_POINT must be empty, after-decide, after-persist or after-publish")
	}
	return errors.Join(errs...)
}
