// Package token mints and verifies Farewell's participant tokens: JWT HS256
// with a pinned algorithm, issuer, audience, expiry, the event the token was
// issued for (claim "evt") and a key id so secrets can be rotated without
// logging anybody out.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
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
	// Event is the event tokens are minted for and the only one accepted.
	Event string
	// Leeway tolerates small clock differences between replicas.
	Leeway time.Duration
}

// Claims are what a verified token says.
type Claims struct {
	// Email is the participant (the subject): the address's identity under
	// the deployment's email policy.
	Email string
	// Delivery is the address as the participant typed it, where mail goes;
	// Email when the token carries none.
	Delivery  string
	Event     string
	ExpiresAt time.Time
}

// claims is the JSON payload: the registered claims, the event and, when it
// differs from the subject, the delivery address.
type claims struct {
	Event    string `json:"evt"`
	Delivery string `json:"dlv,omitempty"`
	jwt.RegisteredClaims
}

// Codec mints and verifies tokens.
type Codec struct {
	cfg    Config
	keys   map[string][]byte
	parser *jwt.Parser
	fast   *fastPath
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
	if cfg.Event == "" {
		return nil, errors.New("token: the event is required")
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
		fast: newFastPath(cfg, keys),
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

// Mint returns a signed token for email (also its delivery address) and the
// configured event, valid for the configured TTL.
func (c *Codec) Mint(email string, now time.Time) (string, error) {
	return c.MintFor(email, email, now)
}

// MintFor returns a signed token whose subject is the participant identity
// and which carries delivery, the address as typed, when it differs.
func (c *Codec) MintFor(identity, delivery string, now time.Time) (string, error) {
	cl := claims{
		Event: c.cfg.Event,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   identity,
			Issuer:    c.cfg.Issuer,
			Audience:  jwt.ClaimStrings{c.cfg.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(c.cfg.TTL)),
		},
	}
	if delivery != identity {
		cl.Delivery = delivery
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, cl)
	t.Header["kid"] = c.cfg.Current.ID
	s, err := t.SignedString(c.cfg.Current.Secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// Verify checks signature, algorithm, key id, issuer, audience, event and times.
// Tokens as Mint writes them take a fast path that decodes the claims into
// plain types; every other token, and every invalid one, goes through
// golang-jwt's parser.
func (c *Codec) Verify(raw string) (Claims, error) {
	if claims, ok := c.fast.verify(raw, time.Now()); ok {
		return claims, nil
	}
	var rc claims
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
	if rc.Event != c.cfg.Event {
		return Claims{}, fmt.Errorf("%w: issued for event %q, not %q", ErrInvalid, rc.Event, c.cfg.Event)
	}
	return newClaims(rc.Subject, rc.Delivery, rc.Event, rc.ExpiresAt.Time), nil
}

func newClaims(subject, delivery, event string, exp time.Time) Claims {
	if delivery == "" {
		delivery = subject
	}
	return Claims{Email: subject, Delivery: delivery, Event: event, ExpiresAt: exp}
}

// fastPath verifies the tokens this package mints without the generic JWT
// parser: the header must be byte for byte the one Mint writes for a known
// key, the audience exactly the configured one, and the times inside the
// parser's limits by a second's margin. It only ever accepts what the
// parser accepts; everything else (foreign headers, other claim shapes,
// times near a limit, every invalid token) goes to the parser, which gives
// the precise reason.
type fastPath struct {
	// headers maps the encoded header segment of each key to its pool of
	// *macState.
	headers  map[string]*sync.Pool
	issuer   string
	event    string
	audience [2]string // `"aud"` and `["aud"]`, as JSON
	leeway   time.Duration
}

// maxFastToken bounds the tokens the fast path takes (and so its pooled
// buffers); Mint's tokens are a few hundred bytes, longer ones go to the
// parser.
const maxFastToken = 2048

// macState is one key's HMAC with the buffers a verification needs, kept
// together in the key's pool so that checking a token allocates nothing
// but the claims' strings.
type macState struct {
	mac hash.Hash
	// raw holds the token's bytes, claims its decoded payload.
	raw, claims []byte
}

func newFastPath(cfg Config, keys map[string][]byte) *fastPath {
	f := &fastPath{headers: map[string]*sync.Pool{}, issuer: cfg.Issuer, event: cfg.Event, leeway: cfg.Leeway}
	for id, secret := range keys {
		// Mint's header: golang-jwt marshals the header map, keys sorted.
		h, err := json.Marshal(map[string]string{"alg": jwt.SigningMethodHS256.Alg(), "kid": id, "typ": "JWT"})
		if err != nil {
			continue
		}
		f.headers[base64.RawURLEncoding.EncodeToString(h)] = &sync.Pool{New: func() any { return &macState{mac: hmac.New(sha256.New, secret)} }}
	}
	aud, _ := json.Marshal(cfg.Audience)
	f.audience = [2]string{string(aud), "[" + string(aud) + "]"}
	return f
}

// fastClaims are the registered claims as plain JSON types (no custom
// unmarshalers, which cost most of the generic parser's time).
type fastClaims struct {
	Subject   string          `json:"sub"`
	Event     string          `json:"evt"`
	Delivery  string          `json:"dlv"`
	Issuer    string          `json:"iss"`
	Audience  json.RawMessage `json:"aud"`
	ExpiresAt *float64        `json:"exp"`
	NotBefore *float64        `json:"nbf"`
	IssuedAt  *float64        `json:"iat"`
}

// verify returns the claims and true when raw is valid at now; false means
// "ask the parser", not "invalid".
func (f *fastPath) verify(raw string, now time.Time) (Claims, bool) {
	if len(raw) > maxFastToken {
		return Claims{}, false
	}
	header, rest, ok := strings.Cut(raw, ".")
	if !ok {
		return Claims{}, false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sig, '.') >= 0 {
		return Claims{}, false
	}
	pool, ok := f.headers[header]
	if !ok {
		return Claims{}, false
	}
	var sum [sha256.Size]byte
	if base64.RawURLEncoding.DecodedLen(len(sig)) != len(sum) {
		return Claims{}, false
	}
	st := pool.Get().(*macState)
	defer pool.Put(st)
	st.raw = append(st.raw[:0], raw...)
	signed := st.raw[:len(header)+1+len(payload)]
	if n, err := base64.RawURLEncoding.Decode(sum[:], st.raw[len(signed)+1:]); err != nil || n != len(sum) {
		return Claims{}, false
	}
	st.mac.Reset()
	st.mac.Write(signed)
	var want [sha256.Size]byte
	st.mac.Sum(want[:0])
	if !hmac.Equal(sum[:], want[:]) {
		return Claims{}, false
	}
	st.claims = slices.Grow(st.claims[:0], base64.RawURLEncoding.DecodedLen(len(payload)))
	n, err := base64.RawURLEncoding.Decode(st.claims[:cap(st.claims)], signed[len(header)+1:])
	if err != nil {
		return Claims{}, false
	}
	// The claims' strings are copies: nothing returned points into st.
	c, ok := decodeFastClaims(st.claims[:n])
	if !ok {
		return Claims{}, false
	}
	if c.Subject == "" || c.Event != f.event || c.Issuer != f.issuer || (string(c.Audience) != f.audience[0] && string(c.Audience) != f.audience[1]) {
		return Claims{}, false
	}
	// Whole seconds since the epoch, a second inside every limit.
	secs := func(v float64) (time.Time, bool) {
		if v != v || v < 0 || v > 1<<40 {
			return time.Time{}, false
		}
		return time.Unix(int64(v), 0), true
	}
	if c.ExpiresAt == nil {
		return Claims{}, false
	}
	exp, ok := secs(*c.ExpiresAt)
	if !ok || !now.Add(time.Second).Before(exp.Add(f.leeway)) {
		return Claims{}, false
	}
	for _, t := range []*float64{c.NotBefore, c.IssuedAt} {
		if t == nil {
			continue
		}
		at, ok := secs(*t)
		if !ok || now.Before(at.Add(time.Second-f.leeway)) {
			return Claims{}, false
		}
	}
	return newClaims(c.Subject, c.Delivery, c.Event, time.Unix(int64(*c.ExpiresAt), 0)), true
}
