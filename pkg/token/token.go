// Package token mints and verifies Farewell's participant tokens: JWT HS256
// with a pinned algorithm, issuer, audience, expiry and a key id so secrets
// can be rotated without logging anybody out.
package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalid is returned for every token that must be refused. The cause is
// wrapped for logs; clients only ever learn "invalid token".
var ErrInvalid = errors.New("invalid token")

// Key is one signing secret with its key id.
type Key struct {
	ID     string
	Secret []byte
}

// Config configures an Issuer/Verifier.
type Config struct {
	// Current signs new tokens; it is also accepted when verifying.
	Current Key
	// Previous keys are still accepted, for rotation.
	Previous []Key
	Issuer   string
	Audience string
	TTL      time.Duration
	// Leeway tolerates small clock differences between replicas.
	Leeway time.Duration
}

// Claims are what a verified token says.
type Claims struct {
	Email     string
	ExpiresAt time.Time
}

// Codec mints and verifies tokens.
type Codec struct {
	cfg    Config
	keys   map[string][]byte
	parser *jwt.Parser
}

// MinSecretBytes is the shortest secret accepted for HS256.
const MinSecretBytes = 32

// New validates cfg and returns a Codec.
func New(cfg Config) (*Codec, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("token: issuer and audience are required")
	}
	if cfg.TTL <= 0 {
		return nil, errors.New("token: TTL must be positive")
	}
	keys := map[string][]byte{}
	for _, k := range append([]Key{cfg.Current}, cfg.Previous...) {
		if k.ID == "" {
			return nil, errors.New("token: every key needs a key id")
		}
		if len(k.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("token: key %q is shorter than %d bytes", k.ID, MinSecretBytes)
		}
		if _, dup := keys[k.ID]; dup {
			return nil, fmt.Errorf("token: duplicate key id %q", k.ID)
		}
		keys[k.ID] = k.Secret
	}
	return &Codec{
		cfg:  cfg,
		keys: keys,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
		),
	}, nil
}

// Mint returns a signed token for email, valid for the configured TTL.
func (c *Codec) Mint(email string, now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Subject:   email,
		Issuer:    c.cfg.Issuer,
		Audience:  jwt.ClaimStrings{c.cfg.Audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(c.cfg.TTL)),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["kid"] = c.cfg.Current.ID
	s, err := t.SignedString(c.cfg.Current.Secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// Verify checks signature, algorithm, key id, issuer, audience and times.
func (c *Codec) Verify(raw string) (Claims, error) {
	var rc jwt.RegisteredClaims
	_, err := c.parser.ParseWithClaims(raw, &rc, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		secret, ok := c.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return secret, nil
	})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if rc.Subject == "" || rc.ExpiresAt == nil {
		return Claims{}, fmt.Errorf("%w: missing subject", ErrInvalid)
	}
	return Claims{Email: rc.Subject, ExpiresAt: rc.ExpiresAt.Time}, nil
}
