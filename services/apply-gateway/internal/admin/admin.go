// Package admin holds the rules for the event's administrators: setting the
// stock and the application window, and reading live figures.
package admin

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxStock bounds the stock an admin may set.
const MaxStock = 10_000_000

// Domain errors mapped to 400 by the HTTP layer.
var (
	ErrInvalidStock  = errors.New("stock must be an integer between 0 and 10000000")
	ErrInvalidWindow = errors.New("opensAt must be before closesAt")
	ErrUnavailable   = errors.New("dependency unavailable")
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

// Store applies admin changes to the live state (Redis).
type Store interface {
	SetStock(ctx context.Context, total int64) error
	SetWindow(ctx context.Context, opensAt, closesAt time.Time) error
	Stats(ctx context.Context) (Stats, error)
	// ScanWinners calls page with the winners one cursor page at a time,
	// in no particular order, never holding more than a page in memory.
	ScanWinners(ctx context.Context, page func([]Winner) error) error
}

// Announcer publishes admin changes so stock-consumer persists them.
type Announcer interface {
	AnnounceStock(ctx context.Context, total int64) error
	AnnounceWindow(ctx context.Context, opensAt, closesAt time.Time) error
}

// Service applies admin changes.
type Service struct {
	store    Store
	announce Announcer
}

// NewService returns a Service.
func NewService(st Store, an Announcer) *Service { return &Service{store: st, announce: an} }

// SetStock announces the new total (durable first), then applies it live:
// remaining becomes total minus the winners so far.
func (s *Service) SetStock(ctx context.Context, total int64) (Stats, error) {
	if total < 0 || total > MaxStock {
		return Stats{}, ErrInvalidStock
	}
	if err := s.announce.AnnounceStock(ctx, total); err != nil {
		return Stats{}, fmt.Errorf("announce stock: %w: %w", ErrUnavailable, err)
	}
	if err := s.store.SetStock(ctx, total); err != nil {
		return Stats{}, fmt.Errorf("set stock: %w: %w", ErrUnavailable, err)
	}
	return s.Stats(ctx)
}

// SetWindow announces and applies the application window.
func (s *Service) SetWindow(ctx context.Context, opensAt, closesAt time.Time) (Stats, error) {
	if opensAt.IsZero() || closesAt.IsZero() || !opensAt.Before(closesAt) {
		return Stats{}, ErrInvalidWindow
	}
	if err := s.announce.AnnounceWindow(ctx, opensAt, closesAt); err != nil {
		return Stats{}, fmt.Errorf("announce window: %w: %w", ErrUnavailable, err)
	}
	if err := s.store.SetWindow(ctx, opensAt, closesAt); err != nil {
		return Stats{}, fmt.Errorf("set window: %w: %w", ErrUnavailable, err)
	}
	return s.Stats(ctx)
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
