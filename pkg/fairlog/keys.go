package fairlog

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/terning-farewell/farewell/pkg/config"
)

// Errors of signature checks.
var (
	ErrUnknownKey   = errors.New("signed with an unknown key id")
	ErrBadSignature = errors.New("signature does not match")
)

// PublicKey is one verification key with its id.
type PublicKey struct {
	ID  string
	Key ed25519.PublicKey
}

// Signer signs with the current key; Keys lists the current and previous
// public keys, so receipts signed before a rotation still verify.
type Signer struct {
	id       string
	private  ed25519.PrivateKey
	previous []PublicKey
}

// KeyConfig is the signing configuration: the current key (id and 32-byte
// seed) and the previous keys' public halves.
type KeyConfig struct {
	ID       string
	Seed     []byte
	Previous []PublicKey
}

// LoadKeyConfig reads FAREWELL_RECEIPT_KID, FAREWELL_RECEIPT_KEY (the
// current key's 32-byte Ed25519 seed, standard base64; a secret) and
// FAREWELL_RECEIPT_PREVIOUS_KEYS ("kid:base64 public key,…": keys rotated
// out, kept so older receipts still verify).
func LoadKeyConfig(e *config.Env) KeyConfig {
	c := KeyConfig{ID: e.String("FAREWELL_RECEIPT_KID", "r1")}
	raw := e.Secret("FAREWELL_RECEIPT_KEY", 40)
	if raw != "" {
		seed, err := base64.StdEncoding.DecodeString(raw)
		if err != nil || len(seed) != ed25519.SeedSize {
			e.Fail("FAREWELL_RECEIPT_KEY must be a %d-byte Ed25519 seed in standard base64", ed25519.SeedSize)
		} else {
			c.Seed = seed
		}
	}
	for _, pair := range e.List("FAREWELL_RECEIPT_PREVIOUS_KEYS", nil) {
		kid, pub, err := parsePublic(pair)
		if err != nil {
			e.Fail("FAREWELL_RECEIPT_PREVIOUS_KEYS: %v", err)
			continue
		}
		c.Previous = append(c.Previous, PublicKey{ID: kid, Key: pub})
	}
	return c
}

func parsePublic(pair string) (string, ed25519.PublicKey, error) {
	kid, b64, ok := strings.Cut(pair, ":")
	if !ok || kid == "" {
		return "", nil, errors.New("each entry must be kid:base64-public-key")
	}
	pub, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return "", nil, fmt.Errorf("key %q: want a %d-byte Ed25519 public key in standard base64", kid, ed25519.PublicKeySize)
	}
	return kid, ed25519.PublicKey(pub), nil
}

// NewSigner returns a Signer for c.
func NewSigner(c KeyConfig) (*Signer, error) {
	if c.ID == "" || len(c.Seed) != ed25519.SeedSize {
		return nil, errors.New("fairlog: a key id and a 32-byte seed are required")
	}
	for _, p := range c.Previous {
		if p.ID == c.ID {
			return nil, fmt.Errorf("fairlog: previous key %q has the current key's id", p.ID)
		}
	}
	return &Signer{id: c.ID, private: ed25519.NewKeyFromSeed(c.Seed), previous: c.Previous}, nil
}

// KeyID is the current key's id.
func (s *Signer) KeyID() string { return s.id }

// Sign signs msg with the current key and returns the key id and the
// signature (base64url, no padding).
func (s *Signer) Sign(msg []byte) (string, string) {
	return s.id, base64.RawURLEncoding.EncodeToString(ed25519.Sign(s.private, msg))
}

// Keys returns the current public key first, then the previous ones.
func (s *Signer) Keys() []PublicKey {
	out := []PublicKey{{ID: s.id, Key: s.private.Public().(ed25519.PublicKey)}}
	return append(out, s.previous...)
}

// KeySet is the public keys a verifier trusts, by id.
type KeySet map[string]ed25519.PublicKey

// Verify checks sig (base64url) over msg with key kid.
func (ks KeySet) Verify(kid, sig string, msg []byte) error {
	pub, ok := ks[kid]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownKey, kid)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !ed25519.Verify(pub, msg, raw) {
		return ErrBadSignature
	}
	return nil
}

// JWK is one key as served at GET /api/event/keys (RFC 8037: OKP, Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	X   string `json:"x"`
}

// JWKS is the document served at GET /api/event/keys.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// NewJWKS lists keys as a JWK set.
func NewJWKS(keys []PublicKey) JWKS {
	out := JWKS{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, JWK{Kty: "OKP", Crv: "Ed25519", Kid: k.ID, Use: "sig", X: base64.RawURLEncoding.EncodeToString(k.Key)})
	}
	return out
}

// KeySet returns the Ed25519 keys of the set by id.
func (j JWKS) KeySet() (KeySet, error) {
	ks := KeySet{}
	for _, k := range j.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %q: not an Ed25519 public key", k.Kid)
		}
		ks[k.Kid] = ed25519.PublicKey(raw)
	}
	if len(ks) == 0 {
		return nil, errors.New("no Ed25519 key in the key set")
	}
	return ks, nil
}
