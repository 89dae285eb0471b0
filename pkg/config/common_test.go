package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadCommonDefaults(t *testing.T) {
	t.Parallel()
	c := LoadCommon(FromMap(map[string]string{}), "svc", "127.0.0.1:9999")
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	if c.HTTPAddr != "127.0.0.1:9999" || c.EventID != "final-gift" || c.StartupTimeout != time.Minute ||
		c.ShutdownTimeout != 20*time.Second || strings.Join(c.KafkaBrokers, ",") != "127.0.0.1:9092" || c.RedisPoolSize != 64 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestCommonValidateRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no brokers", map[string]string{"FAREWELL_KAFKA_BROKERS": " , "}, "FAREWELL_KAFKA_BROKERS"},
		{"event id with a slash", map[string]string{"FAREWELL_EVENT_ID": "final/gift"}, "FAREWELL_EVENT_ID"},
		{"log level", map[string]string{"FAREWELL_LOG_LEVEL": "loud"}, "FAREWELL_LOG_LEVEL"},
		{"zero shutdown timeout", map[string]string{"FAREWELL_SHUTDOWN_TIMEOUT": "0s"}, "FAREWELL_SHUTDOWN_TIMEOUT"},
		{"negative drain delay", map[string]string{"FAREWELL_DRAIN_DELAY": "-1s"}, "FAREWELL_DRAIN_DELAY"},
		{"drain delay over a minute", map[string]string{"FAREWELL_DRAIN_DELAY": "2m"}, "FAREWELL_DRAIN_DELAY"},
		{"negative startup timeout", map[string]string{"FAREWELL_STARTUP_TIMEOUT": "-1s"}, "FAREWELL_STARTUP_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := LoadCommon(FromMap(tt.env), "svc", "127.0.0.1:9999").Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want it to mention %s", err, tt.want)
			}
		})
	}
}

func TestCommonSentinelSettingsGoTogether(t *testing.T) {
	for _, tc := range []struct {
		env map[string]string
		ok  bool
	}{
		{map[string]string{"FAREWELL_REDIS_SENTINELS": "s1:26379,s2:26379", "FAREWELL_REDIS_MASTER": "farewell"}, true},
		{map[string]string{"FAREWELL_REDIS_SENTINELS": "s1:26379"}, false},
		{map[string]string{"FAREWELL_REDIS_MASTER": "farewell"}, false},
	} {
		c := LoadCommon(FromMap(tc.env), "auth", ":8081")
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%v: Validate() = %v, want ok=%v", tc.env, err, tc.ok)
		}
		if tc.ok && len(c.RedisSentinels) != 2 {
			t.Errorf("sentinels = %v", c.RedisSentinels)
		}
	}
}
