// Package config loads stock-consumer's settings from the environment.
package config

import (
	"time"

	"github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/mysqlstore"
)

// Config is everything stock-consumer reads at start-up.
type Config struct {
	config.Common
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
}

// Load reads and validates the configuration.
func Load(e *config.Env) (Config, error) {
	c := Config{
		Common:            config.LoadCommon(e, "stock-consumer", "127.0.0.1:8085"),
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
	}
	if c.MaxBatch < 1 || c.MaxBatch > mysqlstore.MaxDecisionsPerInsert {
		e.Fail("FAREWELL_CONSUMER_MAX_BATCH must be between 1 and %d (%d placeholders of %d per row fit one MySQL INSERT)",
			mysqlstore.MaxDecisionsPerInsert, mysqlstore.MaxPlaceholders, mysqlstore.ColumnsPerDecision)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		e.Fail("FAREWELL_CONSUMER_MAX_ATTEMPTS must be between 1 and 100")
	}
	if c.StrandedAfter < time.Second {
		e.Fail("FAREWELL_STRANDED_AFTER must be at least 1s (and exceed the gateways' FAREWELL_ADMISSION_GRACE)")
	}
	switch c.FaultPoint {
	case "", "after-decide", "after-persist", "after-publish":
	default:
		e.Fail("FAREWELL_FAULT_POINT must be empty, after-decide, after-persist or after-publish")
	}
	return c, e.Err()
}
