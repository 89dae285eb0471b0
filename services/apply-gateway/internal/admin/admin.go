// Package admin holds the rules for the event's administrators: setting the
// stock and the application window, and reading live figures.
//
// A change is applied to the live state (Redis) first, where it is checked
// and numbered, and announced to stock-consumer (Kafka) second. Only a
// change the broker acknowledged is kept: when the publish fails, the live
// change is undone and marked undone in Redis, so stock-consumer skips its
// message should the broker deliver it after all, and the caller gets
// ErrUnavailable: a refused change reaches neither Redis nor MySQL. When
// stock-consumer had already persisted it (and marked it applied), the undo
// keeps it instead and the caller gets success. Once acknowledged, a change
// is answered with success even if Redis fails right then: stock-consumer
// persists it and brings Redis up to it. stock-consumer keeps the change
// with the highest number, so MySQL ends in Redis's order even when two
// gateways change the event at once.
package admin

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxStock bounds the stock an admin may set. It is far below what the
// stores hold (a BIGINT in MySQL, a 64-bit integer in Redis).
const MaxStock = 10_000_000

// The window times every store can hold: Redis reads 0 and below as
// "unbounded", MySQL's TIMESTAMP starts at 1970-01-01 00:00:01 UTC and its
// DATETIME ends with the year 9999. Times are kept to the millisecond.
var (
	MinWindowTime = time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC)
	MaxWindowTime = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
)

// Domain errors mapped to 4xx/503 by the HTTP layer.
var (
	ErrInvalidStock      = errors.New("stock must be an integer between 0 and 10000000")
	ErrStockBelowWinners = errors.New("stock below the winners so far")
	ErrInvalidWindow     = errors.New("opensAt must be before closesAt")
	ErrWindowOutOfRange  = errors.New("window time outside 1970-01-01T00:00:01Z..9999-12-31T23:59:59.999Z")
	ErrChangeInProgress  = errors.New("another stock change is in flight")
	ErrUnavailable       = errors.New("dependency unavailable")
)

// Stats are the live figures of the event.
type Stats struct {
	EventID   string
	Total     int64
	Remaining int64
	Winners   int64
	Losers    int64
	// Pending counts admitted applications not decided yet.
	Pending  int64
	SoldOut  bool
	OpensAt  time.Time
	ClosesAt time.Time
}

// Winner is one row of the winners export.
type Winner struct {
	Rank  int64
	Email string
	// DecidedAt is zero when the decision was stored without its time
	// (decided before decision times were kept).
	DecidedAt time.Time
}

// StockChange is a stock change prepared in the live state and not settled
// yet.
type StockChange struct {
	Version  int64
	Total    int64
	Previous int64
}

// WindowChange is a window change applied to the live state, with the
// window it replaced (HadPrevious is false when none was set; a zero time
// is an unbounded side) and the number of the change that window came from.
type WindowChange struct {
	Version          int64
	PreviousOpensAt  time.Time
	PreviousClosesAt time.Time
	HadPrevious      bool
	PreviousApplied  int64
}

// Store applies admin changes to the live state (Redis).
type Store interface {
	// PrepareStock checks total against the winners and numbers the change
	// in one atomic step; it returns ErrStockBelowWinners,
	// ErrChangeInProgress, or an error when the state is not loaded. pending
	// bounds how long the change blocks others if its settle never comes.
	PrepareStock(ctx context.Context, total int64, pending time.Duration) (StockChange, error)
	// CommitStock writes an acknowledged change live, unless the live total
	// is already a later change's.
	CommitStock(ctx context.Context, c StockChange) error
	// UndoStock takes back a change whose publish failed and marks it
	// undone, atomically with stock-consumer's mark: when stock-consumer
	// persisted the change already, it commits it instead and reports true.
	UndoStock(ctx context.Context, c StockChange) (durable bool, err error)
	SetWindow(ctx context.Context, opensAt, closesAt time.Time) (WindowChange, error)
	// UndoWindow restores the previous window (only if no later window
	// change was made since) and marks the change undone, or keeps it and
	// reports true when stock-consumer persisted it already.
	UndoWindow(ctx context.Context, c WindowChange) (durable bool, err error)
	Stats(ctx context.Context) (Stats, error)
	// ScanWinners calls page with the winners one cursor page at a time,
	// in no particular order, never holding more than a page in memory.
	ScanWinners(ctx context.Context, page func([]Winner) error) error
}

// Announcer publishes admin changes so stock-consumer persists them, and
// returns once the broker acknowledged them.
type Announcer interface {
	AnnounceStock(ctx context.Context, total, version int64) error
	AnnounceWindow(ctx context.Context, opensAt, closesAt time.Time, version int64) error
}

// Config tunes the Service.
type Config struct {
	// PublishTimeout bounds the wait for the broker's acknowledgement.
	PublishTimeout time.Duration
}

// Service applies admin changes.
type Service struct {
	cfg      Config
	store    Store
	announce Announcer
}

// NewService returns a Service; a PublishTimeout of zero means 3 s.
func NewService(cfg Config, st Store, an Announcer) *Service {
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 3 * time.Second
	}
	return &Service{cfg: cfg, store: st, announce: an}
}

// SetStock prepares the new total in the live state (refused below the
// winners so far), publishes it, and commits it once the broker
// acknowledged it; a failed publish undoes it.
func (s *Service) SetStock(ctx context.Context, total int64) (Stats, error) {
	if total < 0 || total > MaxStock {
		return Stats{}, ErrInvalidStock
	}
	// The pending entry outlives the publish and both settle attempts.
	change, err := s.store.PrepareStock(ctx, total, 2*s.cfg.PublishTimeout+2*time.Second)
	if errors.Is(err, ErrStockBelowWinners) || errors.Is(err, ErrChangeInProgress) {
		return Stats{}, err
	}
	if err != nil {
		return Stats{}, fmt.Errorf("prepare stock: %w: %w", ErrUnavailable, err)
	}
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	settleCtx, cancelSettle := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancelSettle()
	if err := s.announce.AnnounceStock(pubCtx, total, change.Version); err != nil {
		durable, uerr := s.store.UndoStock(settleCtx, change)
		switch {
		case uerr != nil:
			return Stats{}, fmt.Errorf("announce stock: %w: %w (undo: %w)", ErrUnavailable, err, uerr)
		case !durable:
			return Stats{}, fmt.Errorf("announce stock: %w: %w", ErrUnavailable, err)
		}
		// The broker delivered it after all and stock-consumer persisted it.
		return s.statsAfter(ctx, Stats{Total: total}), nil
	}
	// Acknowledged: the change is durable and stock-consumer will persist
	// it and bring Redis up to it, so a failed commit here (retried once)
	// does not make it fail.
	if err := s.store.CommitStock(settleCtx, change); err != nil {
		_ = s.store.CommitStock(settleCtx, change)
	}
	return s.statsAfter(ctx, Stats{Total: total}), nil
}

// SetWindow applies the application window live, publishes it, and undoes
// it when the publish fails.
func (s *Service) SetWindow(ctx context.Context, opensAt, closesAt time.Time) (Stats, error) {
	if opensAt.IsZero() || closesAt.IsZero() {
		return Stats{}, ErrInvalidWindow
	}
	opensAt, closesAt = opensAt.UTC().Truncate(time.Millisecond), closesAt.UTC().Truncate(time.Millisecond)
	if !inWindowRange(opensAt) || !inWindowRange(closesAt) {
		return Stats{}, ErrWindowOutOfRange
	}
	if !opensAt.Before(closesAt) {
		return Stats{}, ErrInvalidWindow
	}
	change, err := s.store.SetWindow(ctx, opensAt, closesAt)
	if err != nil {
		return Stats{}, fmt.Errorf("set window: %w: %w", ErrUnavailable, err)
	}
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	if err := s.announce.AnnounceWindow(pubCtx, opensAt, closesAt, change.Version); err != nil {
		undoCtx, cancelUndo := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancelUndo()
		durable, uerr := s.store.UndoWindow(undoCtx, change)
		switch {
		case uerr != nil:
			return Stats{}, fmt.Errorf("announce window: %w: %w (undo: %w)", ErrUnavailable, err, uerr)
		case !durable:
			return Stats{}, fmt.Errorf("announce window: %w: %w", ErrUnavailable, err)
		}
	}
	return s.statsAfter(ctx, Stats{OpensAt: opensAt, ClosesAt: closesAt}), nil
}

// statsAfter reads the live figures after a change that is durable; when
// Redis cannot answer right then, the change still succeeded, and the
// caller gets what it set (fallback) instead of an error.
func (s *Service) statsAfter(ctx context.Context, fallback Stats) Stats {
	st, err := s.store.Stats(ctx)
	if err != nil {
		return fallback
	}
	return st
}

func inWindowRange(t time.Time) bool {
	return !t.Before(MinWindowTime) && !t.After(MaxWindowTime)
}

// Stats returns the live figures.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	st, err := s.store.Stats(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w: %w", ErrUnavailable, err)
	}
	return st, nil
}

// ExportWinners streams every winner to page, one page at a time; an
// error from page stops the scan and is returned as it is.
func (s *Service) ExportWinners(ctx context.Context, page func([]Winner) error) error {
	var pageErr error
	err := s.store.ScanWinners(ctx, func(ws []Winner) error {
		if err := page(ws); err != nil {
			pageErr = err
			return err
		}
		return nil
	})
	switch {
	case pageErr != nil:
		return pageErr
	case err != nil:
		return fmt.Errorf("export winners: %w: %w", ErrUnavailable, err)
	}
	return nil
}
