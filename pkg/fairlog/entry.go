package fairlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Kind is what a log entry records.
type Kind string

// The kinds of log entries.
const (
	// KindDecision is one persisted decision.
	KindDecision Kind = "decision"
	// KindStock is a persisted stock change (Stock is the new total).
	KindStock Kind = "stock"
	// KindStockSeen records that the decisions after it were made under
	// Stock, as Redis held it, where the log's last stock differs: an admin
	// change Redis applied that is not persisted yet, or never will be
	// because a newer change overtook it, or the smaller of the old and
	// new stock while a change was pending. It is written in the same
	// transaction as those decisions, just before them.
	KindStockSeen Kind = "stock-seen"
	// KindLateDecision is a decision persisted after decisions behind it
	// in line: Redis decided it at its place (Partition, Offset), in order,
	// but MySQL refused its row every time, so stock-consumer dead-lettered
	// the message and persisted the same decision later without the
	// refused fields. Its Stock is the stock Redis held when it was
	// persisted; the stock it was decided under is the log's at its place.
	// A verifier replays it at its place, not where it stands in the log.
	KindLateDecision Kind = "late-decision"
	// KindWindow is a persisted window change.
	KindWindow Kind = "window"
	// KindFreeze closes the log: the event's window closed; nothing may follow.
	KindFreeze Kind = "freeze"
)

// IsDecision reports whether an entry of kind k is a participant's decision.
func (k Kind) IsDecision() bool { return k == KindDecision || k == KindLateDecision }

// GenesisHash is the Prev of the first entry.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Entry is one line of the decision log. Fields that do not apply to a
// kind are zero. Hash is SHA-256 over the entry's JSON with Hash empty,
// and Prev is the previous entry's Hash, so changing, dropping or moving
// any entry breaks every hash after it.
type Entry struct {
	Seq   int64  `json:"seq"`
	Event string `json:"event"`
	Kind  Kind   `json:"kind"`
	// At is when it happened, unix ms: the decision time (Redis's clock) or
	// the admin change's time.
	At int64 `json:"at"`
	// Participant, Partition, Offset, Status, Rank, Stock: decisions.
	// Offset is -1 for an admission decided without its Kafka message (a
	// gateway crashed before publishing it). Stock is the stock the decision
	// was made under (for a stock or stock-seen entry: the stock from then on).
	Participant string `json:"participant,omitempty"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	Status      string `json:"status,omitempty"`
	Rank        int64  `json:"rank"`
	Stock       int64  `json:"stock"`
	// Version numbers admin changes; OpensAt/ClosesAt (unix ms, 0 =
	// unbounded) are a window change's.
	Version  int64  `json:"version"`
	OpensAt  int64  `json:"opensAt"`
	ClosesAt int64  `json:"closesAt"`
	Prev     string `json:"prev"`
	Hash     string `json:"hash"`
}

// ComputeHash returns the entry's hash (its Hash field ignored).
func (e Entry) ComputeHash() string {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		// A struct of strings and integers always encodes.
		panic(fmt.Sprintf("fairlog: encode entry: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Seal links e after prev (the previous entry's hash, GenesisHash for the
// first) and returns it with its hash and its line (JSON, no newline).
func Seal(prev string, e Entry) (Entry, []byte) {
	e.Prev = prev
	e.Hash = e.ComputeHash()
	b, _ := json.Marshal(e)
	return e, b
}

// ParseEntry decodes one line strictly: unknown fields are refused, so
// nothing can ride along outside the hash.
func ParseEntry(line []byte) (Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("decode entry: %w", err)
	}
	if dec.More() {
		return Entry{}, errors.New("decode entry: trailing data")
	}
	return e, nil
}

// Head is the log's published head: how many entries, the last hash, and
// whether the log is frozen, signed by the gateway's receipt key.
type Head struct {
	Event     string `json:"event"`
	Entries   int64  `json:"entries"`
	Hash      string `json:"hash"`
	Frozen    bool   `json:"frozen"`
	KeyID     string `json:"kid"`
	Signature string `json:"sig"`
}

// SignedBytes is the text the head's signature covers.
func (h Head) SignedBytes() []byte {
	return []byte("farewell-log-head-v1\n" + h.Event + "\n" + strconv.FormatInt(h.Entries, 10) + "\n" + h.Hash + "\n" +
		strconv.FormatBool(h.Frozen) + "\n" + h.KeyID)
}

// SignHead fills in the key id and signature.
func (s *Signer) SignHead(h Head) Head {
	h.KeyID = s.id
	_, h.Signature = s.Sign(h.SignedBytes())
	return h
}

// VerifyHead checks the head's signature.
func (ks KeySet) VerifyHead(h Head) error {
	return ks.Verify(h.KeyID, h.Signature, h.SignedBytes())
}
