// Package fairlog is the shared format of Farewell's fairness evidence: the
// participant's salted hash, the signed receipt apply-gateway gives with
// every 202, the entries of the hash-chained decision log stock-consumer
// writes, the signed head the gateway publishes, and the Ed25519 keys that
// sign them. Writers and the verifier use the same encoding from here, so
// what is signed and hashed is defined once. It holds no rules about who
// wins; those are in the verifier (tools/internal/verify).
package fairlog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/terning-farewell/farewell/pkg/config"
)

// Participant returns the participant's identity in receipts and in the
// log: HMAC-SHA256 keyed by the deployment's salt over the event and the
// email, hex. The address itself never appears; without the salt nobody can
// test a guessed address against it.
func Participant(salt []byte, eventID, email string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(eventID))
	m.Write([]byte{0})
	m.Write([]byte(email))
	return hex.EncodeToString(m.Sum(nil))
}

// MinSaltBytes is the shortest participant salt accepted.
const MinSaltBytes = 32

// LoadSalt reads FAREWELL_PARTICIPANT_SALT, the secret both apply-gateway
// (receipts) and stock-consumer (log entries) hash participants with.
func LoadSalt(e *config.Env) []byte {
	return []byte(e.Secret("FAREWELL_PARTICIPANT_SALT", MinSaltBytes))
}
