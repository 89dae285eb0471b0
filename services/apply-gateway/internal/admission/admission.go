// Package admission holds apply-gateway's rules for participants: who may
// apply, when an application counts as accepted (only after Kafka
// acknowledged it), and what status a participant sees. It knows nothing of
// HTTP, Redis or Kafka types.
package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/terning-farewell/farewell/pkg/fairlog"
)

// Domain errors; the HTTP layer maps each to a status and stable code.
var (
	ErrAlreadyApplied = errors.New("already applied")
	// ErrInProgress: an earlier application of the same participant is still
	// waiting for the broker; retry shortly.
	ErrInProgress  = errors.New("earlier application still in flight")
	ErrSoldOut     = errors.New("sold out")
	ErrNotOpen     = errors.New("event not open")
	ErrUnavailable = errors.New("broker unavailable")
	ErrBusy        = errors.New("too many applications in flight")
	ErrNotFound    = errors.New("application not found")
)

// NotOpenError is ErrNotOpen before the window opens, with the opening time
// (so a client can count down to it). errors.Is(err, ErrNotOpen) holds.
type NotOpenError struct{ OpensAt time.Time }

func (e *NotOpenError) Error() string {
	return ErrNotOpen.Error() + " until " + e.OpensAt.UTC().Format(time.RFC3339)
}

// Unwrap makes a NotOpenError match ErrNotOpen.
func (e *NotOpenError) Unwrap() error { return ErrNotOpen }

// Outcome is what the admission step decided.
type Outcome string

// Admission outcomes returned by the Store.
const (
	Admitted       Outcome = "ADMITTED"
	Readmitted     Outcome = "READMITTED"
	AlreadyApplied Outcome = "ALREADY_APPLIED"
	// InFlight means an earlier admission's publish is not answered yet.
	InFlight Outcome = "IN_FLIGHT"
	SoldOut  Outcome = "SOLD_OUT"
	// NotOpen comes with the opening time in unix ms in place of a marker.
	NotOpen Outcome = "NOT_OPEN"
	Closed  Outcome = "CLOSED"
	// NotReady means the event has no live state: no stock was set yet, or
	// Redis lost it and stock-consumer is rebuilding it from MySQL.
	NotReady Outcome = "NOT_READY"
)

// Status is what a participant sees about their application.
type Status string

// Participant-visible statuses.
const (
	Pending Status = "PENDING"
	Success Status = "SUCCESS"
	Failure Status = "FAILURE"
)

// Application is an admitted application to announce on Kafka.
type Application struct {
	EventID string
	// Email is the participant's identity: the key of everything.
	Email string
	// Delivery is where the decision is mailed (the address as typed).
	Delivery  string
	ID        string
	AppliedAt time.Time
}

// MarkerTime returns the admission time in an admission marker
// "A:<unix ms>" or "P:<unix ms>", stamped by the store's clock.
func MarkerTime(marker string) (time.Time, error) {
	_, ms, ok := strings.Cut(marker, ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || n <= 0 {
		return time.Time{}, fmt.Errorf("admission marker %q: no time", marker)
	}
	return time.UnixMilli(n), nil
}

// Place is where the broker stored an application: its place in line.
type Place struct {
	Partition int32
	Offset    int64
}

// View is what a participant sees about their application: the status,
// the rank of a winner, and the signed receipt of their 202 (JSON; empty
// if none was kept).
type View struct {
	Status  Status
	Rank    int64
	Receipt string
}

// Notary signs receipts (fairlog.Signer).
type Notary interface {
	SignReceipt(r fairlog.Receipt) fairlog.Receipt
}

// Store is the admission state (Redis).
type Store interface {
	// Admit decides by the store's own clock (Redis TIME); the marker of an
	// admission is "A:<unix ms>" (see MarkerTime).
	Admit(ctx context.Context, email string, grace time.Duration) (Outcome, string, error)
	// Settle marks the admission published (keeping the receipt, JSON, for
	// status) or undoes it.
	Settle(ctx context.Context, email, marker string, published bool, receipt string) error
	Status(ctx context.Context, email string) (View, bool, error)
	SoldOut(ctx context.Context) (bool, error)
}

// Announcer publishes an admitted application and returns once the broker
// acknowledged it, with where the broker stored it.
type Announcer interface {
	Announce(ctx context.Context, a Application) (Place, error)
}

// Config tunes the Service.
type Config struct {
	EventID string
	// Grace is how long an admission may stay unpublished before a retry
	// takes it over; it must exceed PublishTimeout.
	Grace          time.Duration
	PublishTimeout time.Duration
	// MaxInFlight bounds concurrent applications; beyond it callers get ErrBusy.
	MaxInFlight int
	// SettleWait bounds how long an apply waits for an earlier admission of
	// the same participant to settle before answering ErrInProgress
	// (default: PublishTimeout plus one second, the settle's own deadline).
	SettleWait time.Duration
	// ClockSkew shifts this replica's own clock (chaos tests only). The
	// decisions that depend on time use the store's clock, so it only moves
	// the fallback admission time of a marker without one.
	ClockSkew time.Duration
	// Notary signs the receipt of every accepted application; Participant
	// hashes the email for it (fairlog.Participant with the salt). Without
	// a Notary no receipt is given.
	Notary      Notary
	Participant func(email string) string
}

// settlePoll is how often a waiting apply looks at the earlier admission.
const settlePoll = 25 * time.Millisecond

// Service admits applications.
type Service struct {
	cfg      Config
	store    Store
	announce Announcer
	newID    func() string
	now      func() time.Time
	soldOut  atomic.Bool
	inFlight chan struct{}
}

// NewService validates cfg and returns a Service.
func NewService(cfg Config, st Store, an Announcer, newID func() string) (*Service, error) {
	if cfg.EventID == "" {
		return nil, errors.New("admission: event id is required")
	}
	if cfg.PublishTimeout <= 0 || cfg.Grace <= cfg.PublishTimeout {
		return nil, errors.New("admission: grace must exceed the publish timeout")
	}
	if cfg.MaxInFlight <= 0 {
		return nil, errors.New("admission: max in flight must be positive")
	}
	if cfg.SettleWait <= 0 {
		cfg.SettleWait = cfg.PublishTimeout + time.Second
	}
	// The wait ends well inside the grace: past it, this apply would take
	// the first admission over instead of waiting for it.
	if limit := cfg.Grace * 3 / 4; cfg.Grace > 0 && cfg.SettleWait > limit {
		cfg.SettleWait = limit
	}
	now := time.Now
	if cfg.ClockSkew != 0 {
		now = func() time.Time { return time.Now().Add(cfg.ClockSkew) }
	}
	return &Service{cfg: cfg, store: st, announce: an, newID: newID, now: now,
		inFlight: make(chan struct{}, cfg.MaxInFlight)}, nil
}

// Apply is ApplyFor with the delivery address email itself.
func (s *Service) Apply(ctx context.Context, email string) (*fairlog.Receipt, error) {
	return s.ApplyFor(ctx, email, email)
}

// ApplyFor admits the participant email (the token's subject, the identity
// every key uses) and publishes the application with delivery, the address
// the decision is mailed to. It returns without an error only once Kafka
// acknowledged the application (202 means durable), with the signed
// receipt (nil without a Notary).
func (s *Service) ApplyFor(ctx context.Context, email, delivery string) (*fairlog.Receipt, error) {
	// Once sold out, answer from memory: no Redis, no Kafka.
	if s.soldOut.Load() {
		return nil, ErrSoldOut
	}
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	default:
		return nil, ErrBusy
	}
	return s.apply(ctx, email, delivery)
}

func (s *Service) apply(ctx context.Context, email, delivery string) (*fairlog.Receipt, error) {
	outcome, marker, err := s.admit(ctx, email)
	if err != nil {
		return nil, err
	}
	switch outcome {
	case Admitted, Readmitted:
	case AlreadyApplied:
		return nil, ErrAlreadyApplied
	case InFlight:
		return nil, ErrInProgress
	case SoldOut:
		s.soldOut.Store(true)
		return nil, ErrSoldOut
	case NotOpen:
		if ms, err := strconv.ParseInt(marker, 10, 64); err == nil && ms > 0 {
			return nil, &NotOpenError{OpensAt: time.UnixMilli(ms)}
		}
		return nil, ErrNotOpen
	case Closed:
		return nil, ErrNotOpen
	case NotReady:
		return nil, fmt.Errorf("admit: %w: event state not loaded", ErrUnavailable)
	default:
		return nil, fmt.Errorf("admit: unknown outcome %q", outcome)
	}
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	appliedAt, err := MarkerTime(marker)
	if err != nil {
		appliedAt = s.now()
	}
	app := Application{EventID: s.cfg.EventID, Email: email, Delivery: delivery, ID: s.newID(), AppliedAt: appliedAt}
	place, err := s.announce.Announce(pubCtx, app)
	if err != nil {
		// Not acknowledged: undo the marker so the participant can retry. If
		// the undo fails too, the grace period lets a retry take it over.
		settleCtx, cancelSettle := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancelSettle()
		_ = s.store.Settle(settleCtx, email, marker, false, "")
		return nil, fmt.Errorf("publish: %w: %w", ErrUnavailable, err)
	}
	receipt, encoded := s.receipt(email, place)
	// Best effort: an unsettled marker only means a retry after the grace
	// period publishes again, which the consumer treats as a replay.
	settleCtx, cancelSettle := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancelSettle()
	_ = s.store.Settle(settleCtx, email, marker, true, encoded)
	return receipt, nil
}

// receipt signs the participant's receipt for the place the broker gave
// the application; it returns nil and "" without a Notary.
func (s *Service) receipt(email string, place Place) (*fairlog.Receipt, string) {
	if s.cfg.Notary == nil {
		return nil, ""
	}
	participant := ""
	if s.cfg.Participant != nil {
		participant = s.cfg.Participant(email)
	}
	r := s.cfg.Notary.SignReceipt(fairlog.Receipt{
		Event: s.cfg.EventID, Participant: participant, Partition: place.Partition, Offset: place.Offset,
		AcceptedAt: s.now().UnixMilli(),
	})
	b, err := json.Marshal(r)
	if err != nil {
		return &r, ""
	}
	return &r, string(b)
}

// admit runs the admission step. While an earlier admission of email waits
// for the broker it asks again, for up to SettleWait: that admission either
// becomes durable (ALREADY_APPLIED) or is undone (this one is admitted), so
// "already applied" is only said of an application Kafka acknowledged.
func (s *Service) admit(ctx context.Context, email string) (Outcome, string, error) {
	deadline := time.Now().Add(s.cfg.SettleWait)
	for {
		outcome, marker, err := s.store.Admit(ctx, email, s.cfg.Grace)
		if err != nil {
			return "", "", fmt.Errorf("admit: %w: %w", ErrUnavailable, err)
		}
		if outcome != InFlight || !time.Now().Add(settlePoll).Before(deadline) {
			return outcome, marker, nil
		}
		select {
		case <-ctx.Done():
			return InFlight, "", nil
		case <-time.After(settlePoll):
		}
	}
}

// Status returns what the participant sees, or ErrNotFound.
func (s *Service) Status(ctx context.Context, email string) (View, error) {
	v, ok, err := s.store.Status(ctx, email)
	if err != nil {
		return View{}, fmt.Errorf("status: %w: %w", ErrUnavailable, err)
	}
	if !ok {
		return View{}, ErrNotFound
	}
	return v, nil
}

// SetSoldOut updates the local sold-out flag (after an admin change).
func (s *Service) SetSoldOut(v bool) { s.soldOut.Store(v) }

// WatchSoldOut refreshes the local sold-out flag from the store every
// interval until ctx ends, so every replica stops touching Redis and Kafka
// soon after sell-out, and resumes if an admin adds stock.
func (s *Service) WatchSoldOut(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if v, err := s.store.SoldOut(ctx); err == nil {
				s.soldOut.Store(v)
			}
		}
	}
}
