package testinfra

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

// LogSink collects the lines of a real logger; the goroutines of the code
// under test may write to it concurrently.
type LogSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String returns everything written so far.
func (s *LogSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// ForbidInLogs fails t for every entry of forbidden (what it is → the text)
// that appears anywhere in logs.
func ForbidInLogs(t testing.TB, logs string, forbidden map[string]string) {
	t.Helper()
	for what, s := range forbidden {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain the %s", what)
		}
	}
}

// ForbidInLogFields parses logs as JSON lines and fails t when any string
// field but the time contains one of values. It is for short secrets (a
// six-digit code) that could collide with the digits of a timestamp.
func ForbidInLogFields(t testing.TB, logs string, values ...string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		for k, v := range fields {
			s, isString := v.(string)
			if !isString || k == "time" {
				continue
			}
			for _, forbidden := range values {
				if strings.Contains(s, forbidden) {
					t.Errorf("log field %q carries a forbidden value: %q", k, s)
				}
			}
		}
	}
}
