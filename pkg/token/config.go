package token

import (
	"strings"
	"time"

	"github.com/terning-farewell/farewell/pkg/config"
)

// LoadConfig reads the token settings shared by auth and apply-gateway:
// FAREWELL_JWT_SECRET, FAREWELL_JWT_KID, FAREWELL_JWT_PREVIOUS_KEYS
// ("kid:secret,kid:secret"), FAREWELL_JWT_ISSUER, FAREWELL_JWT_AUDIENCE,
// FAREWELL_JWT_TTL, and FAREWELL_EVENT_ID, the event tokens are for.
func LoadConfig(e *config.Env) Config {
	cfg := Config{
		Current: Key{
			ID:     e.String("FAREWELL_JWT_KID", "k1"),
			Secret: []byte(e.Secret("FAREWELL_JWT_SECRET", MinSecretBytes)),
		},
		Issuer:   e.String("FAREWELL_JWT_ISSUER", "farewell-auth"),
		Audience: e.String("FAREWELL_JWT_AUDIENCE", "farewell-event"),
		TTL:      e.Duration("FAREWELL_JWT_TTL", 10*time.Minute),
		Event:    e.String("FAREWELL_EVENT_ID", "final-gift"),
		Leeway:   e.Duration("FAREWELL_JWT_LEEWAY", 5*time.Second),
	}
	for _, pair := range e.List("FAREWELL_JWT_PREVIOUS_KEYS", nil) {
		kid, secret, ok := strings.Cut(pair, ":")
		if !ok || kid == "" || len(secret) < MinSecretBytes {
			e.Fail("FAREWELL_JWT_PREVIOUS_KEYS: each entry must be kid:secret with a secret of at least %d bytes", MinSecretBytes)
			continue
		}
		cfg.Previous = append(cfg.Previous, Key{ID: kid, Secret: []byte(secret)})
	}
	if cfg.TTL <= 0 || cfg.TTL > 24*time.Hour {
		e.Fail("FAREWELL_JWT_TTL must be between 1s and 24h")
	}
	return cfg
}
