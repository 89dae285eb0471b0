package codes

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
)

// CodeLength is the number of decimal digits in a verification code.
const CodeLength = 6

// ErrInvalidCode is returned when a submitted code is not six ASCII digits.
var ErrInvalidCode = errors.New("invalid verification code format")

// codeSpace is 10^CodeLength: every code is equally likely.
var codeSpace = big.NewInt(1_000_000)

// GenerateCode returns a uniformly random six-digit code from crypto/rand,
// zero-padded ("004211").
func GenerateCode() (string, error) {
	n, err := rand.Int(rand.Reader, codeSpace)
	if err != nil {
		return "", fmt.Errorf("generate code: %w", err)
	}
	return fmt.Sprintf("%0*d", CodeLength, n.Int64()), nil
}

// ValidateCode reports whether code is exactly six ASCII digits.
func ValidateCode(code string) error {
	if len(code) != CodeLength {
		return ErrInvalidCode
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return ErrInvalidCode
		}
	}
	return nil
}

// Hasher binds a code to an email with HMAC-SHA256 so only the digest is
// stored: a Redis dump does not reveal live codes.
type Hasher struct {
	key []byte
}

// MinSecretBytes is the shortest HMAC key NewHasher accepts.
const MinSecretBytes = 32

// NewHasher returns a Hasher keyed with secret.
func NewHasher(secret []byte) (Hasher, error) {
	if len(secret) < MinSecretBytes {
		return Hasher{}, fmt.Errorf("code secret must be at least %d bytes", MinSecretBytes)
	}
	return Hasher{key: append([]byte(nil), secret...)}, nil
}

// Sum returns hex(HMAC-SHA256(secret, email + ":" + code)).
func (h Hasher) Sum(email, code string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(email))
	m.Write([]byte{':'})
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// Matches reports, in constant time, whether code is the one whose digest
// was stored for email.
func (h Hasher) Matches(email, code, stored string) bool {
	return hmac.Equal([]byte(h.Sum(email, code)), []byte(stored))
}
