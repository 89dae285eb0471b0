// Package ledger serves apply-gateway's side of the fairness evidence: the
// decision log that stock-consumer persists (read from its copy), the
// log's head signed with the receipt key, and the public keys that check
// receipts and heads. It knows nothing of HTTP or Redis types.
package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/terning-farewell/farewell/pkg/fairlog"
)

// ErrUnavailable marks a failure to read the log's copy (Redis down); the
// HTTP layer answers 503.
var ErrUnavailable = errors.New("decision log unavailable")

// Log is the copy of the decision log (Redis).
type Log interface {
	// Tail returns how many lines the log holds and the last one.
	Tail(ctx context.Context) (int64, string, error)
	// Lines returns the lines with 0-based indexes from..to, inclusive.
	Lines(ctx context.Context, from, to int64) ([]string, error)
}

// Signer signs heads and lists the public keys (fairlog.Signer).
type Signer interface {
	SignHead(h fairlog.Head) fairlog.Head
	Keys() []fairlog.PublicKey
}

// Service reads the log and signs its head.
type Service struct {
	eventID string
	log     Log
	signer  Signer
}

// NewService returns a Service for one event.
func NewService(eventID string, l Log, s Signer) (*Service, error) {
	if eventID == "" || l == nil || s == nil {
		return nil, errors.New("ledger: event id, log and signer are required")
	}
	return &Service{eventID: eventID, log: l, signer: s}, nil
}

// Head returns the log's head (entries, last hash, frozen), signed.
func (s *Service) Head(ctx context.Context) (fairlog.Head, error) {
	n, last, err := s.log.Tail(ctx)
	if err != nil {
		return fairlog.Head{}, fmt.Errorf("read log head: %w: %w", ErrUnavailable, err)
	}
	h := fairlog.Head{Event: s.eventID, Entries: n, Hash: fairlog.GenesisHash}
	if n > 0 {
		e, err := fairlog.ParseEntry([]byte(last))
		if err != nil {
			return fairlog.Head{}, fmt.Errorf("read log head: %w", err)
		}
		h.Hash = e.Hash
		h.Frozen = e.Kind == fairlog.KindFreeze
	}
	return s.signer.SignHead(h), nil
}

// Page is how many lines Stream reads at a time.
const Page = 1000

// Stream hands the first n lines of the log to emit, page by page, in
// order (n from Head, so the lines end at the head it signed).
func (s *Service) Stream(ctx context.Context, n int64, emit func(lines []string) error) error {
	for from := int64(0); from < n; from += Page {
		to := min(from+Page, n) - 1
		lines, err := s.log.Lines(ctx, from, to)
		if err != nil {
			return fmt.Errorf("read log lines %d..%d: %w: %w", from, to, ErrUnavailable, err)
		}
		if int64(len(lines)) != to-from+1 {
			return fmt.Errorf("read log lines %d..%d: got %d", from, to, len(lines))
		}
		if err := emit(lines); err != nil {
			return err
		}
	}
	return nil
}

// Keys returns the receipt keys as a JWK set, current first.
func (s *Service) Keys() fairlog.JWKS { return fairlog.NewJWKS(s.signer.Keys()) }
