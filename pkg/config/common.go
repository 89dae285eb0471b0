package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Common holds the settings every service reads the same way. Each
// service's Config holds it in a field named Common.
type Common struct {
	Service  string
	Instance string
	HTTPAddr string
	LogLevel string
	// Redis: RedisAddr directly, or through Sentinel when RedisSentinels
	// lists any (RedisMaster names the primary they watch; RedisAddr is
	// then unused).
	RedisAddr      string
	RedisSentinels []string
	RedisMaster    string
	RedisPassword  string
	RedisPoolSize  int
	// Kafka
	KafkaBrokers []string
	// EventID names the event this deployment runs.
	EventID string
	// StartupTimeout bounds how long start-up waits for the dependencies.
	StartupTimeout time.Duration
	// DrainDelay is how long the service keeps serving after SIGTERM while
	// /readyz already fails, so load balancers stop routing to it before it
	// stops accepting connections (Kubernetes removes a terminating pod from
	// its endpoints while the signal is sent, not before).
	DrainDelay time.Duration
	// ShutdownTimeout bounds graceful shutdown (after DrainDelay).
	ShutdownTimeout time.Duration
	// EnablePprof exposes /debug/pprof on the service port.
	EnablePprof bool
}

// LoadCommon reads the shared settings; defaultAddr is the service's port.
// Ranges are checked by Validate.
func LoadCommon(e *Env, service, defaultAddr string) Common {
	host, _ := os.Hostname()
	return Common{
		Service:         service,
		Instance:        e.String("FAREWELL_INSTANCE", service+"@"+host),
		HTTPAddr:        e.String("FAREWELL_HTTP_ADDR", defaultAddr),
		LogLevel:        e.String("FAREWELL_LOG_LEVEL", "info"),
		RedisAddr:       e.String("FAREWELL_REDIS_ADDR", "127.0.0.1:6379"),
		RedisSentinels:  e.List("FAREWELL_REDIS_SENTINELS", nil),
		RedisMaster:     e.String("FAREWELL_REDIS_MASTER", ""),
		RedisPassword:   e.String("FAREWELL_REDIS_PASSWORD", ""),
		RedisPoolSize:   e.Int("FAREWELL_REDIS_POOL_SIZE", 64),
		KafkaBrokers:    e.List("FAREWELL_KAFKA_BROKERS", []string{"127.0.0.1:9092"}),
		EventID:         e.String("FAREWELL_EVENT_ID", "final-gift"),
		StartupTimeout:  e.Duration("FAREWELL_STARTUP_TIMEOUT", 60*time.Second),
		DrainDelay:      e.Duration("FAREWELL_DRAIN_DELAY", 0),
		ShutdownTimeout: e.Duration("FAREWELL_SHUTDOWN_TIMEOUT", 20*time.Second),
		EnablePprof:     e.Bool("FAREWELL_PPROF", false),
	}
}

// Validate checks the shared settings.
func (c Common) Validate() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Service == "" {
		fail("service name must not be empty")
	}
	if strings.TrimSpace(c.HTTPAddr) == "" {
		fail("FAREWELL_HTTP_ADDR must not be empty")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(c.LogLevel))); err != nil {
		fail("FAREWELL_LOG_LEVEL must be debug, info, warn or error")
	}
	if len(c.RedisSentinels) > 0 && strings.TrimSpace(c.RedisMaster) == "" {
		fail("FAREWELL_REDIS_MASTER must name the primary the Sentinels in FAREWELL_REDIS_SENTINELS watch")
	}
	if len(c.RedisSentinels) == 0 && strings.TrimSpace(c.RedisMaster) != "" {
		fail("FAREWELL_REDIS_MASTER is set but FAREWELL_REDIS_SENTINELS lists no Sentinel")
	}
	if len(c.KafkaBrokers) == 0 {
		fail("FAREWELL_KAFKA_BROKERS must list at least one broker")
	}
	if !validEventID(c.EventID) {
		fail("FAREWELL_EVENT_ID must be 1-64 characters of a-z, 0-9, '-' or '_'")
	}
	if c.StartupTimeout <= 0 {
		fail("FAREWELL_STARTUP_TIMEOUT must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		fail("FAREWELL_SHUTDOWN_TIMEOUT must be positive")
	}
	if c.DrainDelay < 0 || c.DrainDelay > time.Minute {
		fail("FAREWELL_DRAIN_DELAY must be between 0s and 1m")
	}
	return errors.Join(errs...)
}

func validEventID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
