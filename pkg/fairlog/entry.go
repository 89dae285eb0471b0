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
// The line is encoded once, by appendJSON, byte for byte as encoding/json
// writes it; the hash covers it with Hash empty, as ComputeHash does.
func Seal(prev string, e Entry) (Entry, []byte) {
	e.Prev = prev
	e.Hash = ""
	b := e.appendJSON(make([]byte, 0, 512))
	sum := sha256.Sum256(b)
	e.Hash = hex.EncodeToString(sum[:])
	// b ends with `"hash":""}`: the hash goes between the quotes.
	line := make([]byte, 0, len(b)+len(e.Hash))
	line = append(line, b[:len(b)-2]...)
	line = append(line, e.Hash...)
	line = append(line, '"', '}')
	return e, line
}

// appendJSON appends e as encoding/json.Marshal encodes it: the fields in
// order, Participant and Status left out when empty. The decision log's
// writer seals thousands of entries a batch; reflection-based encoding
// was most of its cost. TestSealWritesWhatEncodingJSONWrites and
// FuzzSealMatchesEncodingJSON hold it to json.Marshal.
func (e Entry) appendJSON(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"event":`...)
	b = appendJSONString(b, e.Event)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, string(e.Kind))
	b = append(b, `,"at":`...)
	b = strconv.AppendInt(b, e.At, 10)
	if e.Participant != "" {
		b = append(b, `,"participant":`...)
		b = appendJSONString(b, e.Participant)
	}
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(e.Partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, e.Offset, 10)
	if e.Status != "" {
		b = append(b, `,"status":`...)
		b = appendJSONString(b, e.Status)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{`,"rank":`, e.Rank}, {`,"stock":`, e.Stock}, {`,"version":`, e.Version}, {`,"opensAt":`, e.OpensAt}, {`,"closesAt":`, e.ClosesAt}} {
		b = append(b, f.name...)
		b = strconv.AppendInt(b, f.v, 10)
	}
	b = append(b, `,"prev":`...)
	b = appendJSONString(b, e.Prev)
	b = append(b, `,"hash":`...)
	b = appendJSONString(b, e.Hash)
	return append(b, '}')
}

// appendJSONString appends s quoted. Printable ASCII other than the
// characters encoding/json escapes is written as is; any other string is
// left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				// A string always encodes.
				panic(fmt.Sprintf("fairlog: encode string: %v", err))
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
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
