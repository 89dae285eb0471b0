package config

import (
	"os"
	"time"
)

// Common holds the settings every service reads the same way.
type Common struct {
	Service  string
	Instance string
	HTTPAddr string
	LogLevel string
	// Redis
	RedisAddr     string
	RedisPassword string
	RedisPoolSize int
	// Kafka
	KafkaBrokers []string
	// EventID names the event this deployment runs.
	EventID string
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout time.Duration
	// EnablePprof exposes /debug/pprof on the service port.
	EnablePprof bool
}

// LoadCommon reads the shared settings; defaultAddr is the service's port.
func LoadCommon(e *Env, service, defaultAddr string) Common {
	host, _ := os.Hostname()
	c := Common{
		Service:         service,
		Instance:        e.String("FAREWELL_INSTANCE", service+"@"+host),
		HTTPAddr:        e.String("FAREWELL_HTTP_ADDR", defaultAddr),
		LogLevel:        e.String("FAREWELL_LOG_LEVEL", "info"),
		RedisAddr:       e.String("FAREWELL_REDIS_ADDR", "127.0.0.1:6379"),
		RedisPassword:   e.String("FAREWELL_REDIS_PASSWORD", ""),
		RedisPoolSize:   e.Int("FAREWELL_REDIS_POOL_SIZE", 64),
		KafkaBrokers:    e.List("FAREWELL_KAFKA_BROKERS", []string{"127.0.0.1:9092"}),
		EventID:         e.String("FAREWELL_EVENT_ID", "final-gift"),
		ShutdownTimeout: e.Duration("FAREWELL_SHUTDOWN_TIMEOUT", 20*time.Second),
		EnablePprof:     e.Bool("FAREWELL_PPROF", false),
	}
	if len(c.KafkaBrokers) == 0 {
		e.Fail("FAREWELL_KAFKA_BROKERS must list at least one broker")
	}
	if !validEventID(c.EventID) {
		e.Fail("FAREWELL_EVENT_ID must be 1-64 characters of a-z, 0-9, '-' or '_'")
	}
	return c
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
