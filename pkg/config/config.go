// Package config reads typed settings from the environment and collects every
// problem so a service can refuse to start with one clear message.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env reads settings from a lookup function and remembers every error.
type Env struct {
	lookup func(string) (string, bool)
	errs   []error
}

// FromEnviron reads from the process environment.
func FromEnviron() *Env { return &Env{lookup: os.LookupEnv} }

// FromMap reads from m; it is meant for tests.
func FromMap(m map[string]string) *Env {
	return &Env{lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

func (e *Env) raw(key string) (string, bool) {
	v, ok := e.lookup(key)
	if !ok {
		return "", false
	}
	v = strings.TrimSpace(v)
	return v, v != ""
}

// Fail records a validation problem found by the caller.
func (e *Env) Fail(format string, args ...any) { e.errs = append(e.errs, fmt.Errorf(format, args...)) }

// Record adds err, typically from a Validate method, to the recorded
// problems; a nil err records nothing.
func (e *Env) Record(err error) {
	if err != nil {
		e.errs = append(e.errs, err)
	}
}

// String returns the value of key, or def when unset.
func (e *Env) String(key, def string) string {
	if v, ok := e.raw(key); ok {
		return v
	}
	return def
}

// Required returns the value of key and records an error when it is unset.
func (e *Env) Required(key string) string {
	v, ok := e.raw(key)
	if !ok {
		e.Fail("%s is required", key)
	}
	return v
}

// Int returns key as an integer, or def when unset.
func (e *Env) Int(key string, def int) int {
	v, ok := e.raw(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.Fail("%s: %q is not an integer", key, v)
		return def
	}
	return n
}

// Duration returns key as a Go duration ("250ms", "10m"), or def when unset.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v, ok := e.raw(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.Fail("%s: %q is not a duration (examples: 250ms, 5s, 10m)", key, v)
		return def
	}
	return d
}

// Bool returns key as a boolean, or def when unset.
func (e *Env) Bool(key string, def bool) bool {
	v, ok := e.raw(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.Fail("%s: %q is not a boolean", key, v)
		return def
	}
	return b
}

// List returns key split on commas, or def when unset.
func (e *Env) List(key string, def []string) []string {
	v, ok := e.raw(key)
	if !ok {
		return def
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Secret returns a required secret and records an error when it is empty,
// shorter than minLen bytes, or obviously weak. The value is never echoed.
func (e *Env) Secret(key string, minLen int) string {
	v, ok := e.raw(key)
	switch {
	case !ok:
		e.Fail("%s is required (a random secret of at least %d bytes)", key, minLen)
	case len(v) < minLen:
		e.Fail("%s is too short: need at least %d bytes", key, minLen)
	case IsWeakSecret(v):
		e.Fail("%s is too weak: use a random value", key)
	}
	return v
}

// IsWeakSecret reports secrets that are well known or have almost no entropy.
func IsWeakSecret(s string) bool {
	lower := strings.ToLower(s)
	for _, w := range []string{"changeme", "change-me", "secret", "password", "admin", "default", "example", "farewell", "12345678"} {
		if strings.Contains(lower, w) {
			return true
		}
	}
	distinct := map[rune]bool{}
	for _, r := range s {
		distinct[r] = true
	}
	return len(distinct) < 8
}

// Err returns every recorded problem joined, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(e.errs...))
}
