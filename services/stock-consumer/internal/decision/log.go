package decision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// LogRecord is the decision log as persisted (MySQL): entries are appended
// in the same transaction as the decisions and admin changes they record.
type LogRecord interface {
	// LogAfter returns up to limit lines with a sequence number above after.
	LogAfter(ctx context.Context, eventID string, after int64, limit int) ([]string, error)
	// FreezeLog appends the freeze entry once the window closed more than
	// after ago; it reports whether it did now.
	FreezeLog(ctx context.Context, eventID string, after time.Duration) (bool, error)
}

// LogCopy is the copy of the log apply-gateway streams (Redis).
type LogCopy interface {
	Length(ctx context.Context, eventID string) (int64, error)
	// Append writes lines starting at sequence number first unless the copy
	// does not end just before it; it returns the copy's length after.
	Append(ctx context.Context, eventID string, first int64, lines []string) (int64, error)
}

// LogLines are consecutive lines of the decision log: Lines[0] has the
// sequence number First. A persist returns the lines it appended.
type LogLines struct {
	First int64
	Lines []string
}

// logPage is how many lines one copy step moves.
const logPage = 1000

// LogPublisher copies the persisted log to where the gateways stream it
// from, and freezes it after the event's window closed.
type LogPublisher struct {
	record LogRecord
	copy   LogCopy
	log    *slog.Logger
	// kick wakes Run to copy from MySQL now (buffered: kicks while it
	// copies coalesce).
	kick chan struct{}
	// offered are lines just persisted, for Run to copy as they are.
	offered chan LogLines
}

// offeredBacklog bounds the persisted batches' lines waiting for Run (a
// batch's lines are a few MB at most); past it, Run copies from MySQL.
const offeredBacklog = 4

// NewLogPublisher returns a LogPublisher.
func NewLogPublisher(r LogRecord, c LogCopy, log *slog.Logger) (*LogPublisher, error) {
	if r == nil || c == nil || log == nil {
		return nil, errors.New("decision: log record, log copy and logger are required")
	}
	return &LogPublisher{record: r, copy: c, log: log, kick: make(chan struct{}, 1), offered: make(chan LogLines, offeredBacklog)}, nil
}

// Sync copies the persisted entries the copy lacks. Copiers may run at the
// same time (each batch, each replica's ticker): the copy only takes the
// lines that continue it, so it never holds a line twice or out of order.
func (p *LogPublisher) Sync(ctx context.Context, eventID string) error {
	n, err := p.copy.Length(ctx, eventID)
	if err != nil {
		return err
	}
	for {
		lines, err := p.record.LogAfter(ctx, eventID, n, logPage)
		if err != nil {
			return err
		}
		if len(lines) == 0 {
			return nil
		}
		after, err := p.copy.Append(ctx, eventID, n+1, lines)
		if err != nil {
			return err
		}
		if after == n {
			return fmt.Errorf("copy log of %s: the copy does not continue at %d", eventID, n+1)
		}
		n = after
	}
}

// SyncQuietly is Sync for the batch path: a failure only delays the copy
// until the next tick of Run, so it is logged, not returned.
func (p *LogPublisher) SyncQuietly(ctx context.Context, eventID string) {
	if err := p.Sync(ctx, eventID); err != nil && ctx.Err() == nil {
		p.log.Warn("decision log not copied yet; will retry", "event", eventID, "err", err)
	}
}

// Kick asks Run to copy the log from MySQL now, without waiting for it.
// It never blocks.
func (p *LogPublisher) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Offer hands Run the lines a persist just appended, so it copies them
// without reading them back from MySQL; the batch path offers after each
// persisted batch and never waits for the copy. With no lines (an admin
// change) or a full backlog it kicks instead. It never blocks.
func (p *LogPublisher) Offer(_ context.Context, _ string, appended LogLines) {
	if len(appended.Lines) == 0 {
		p.Kick()
		return
	}
	select {
	case p.offered <- appended:
	default:
		p.Kick()
	}
}

// CopyNow copies appended, the lines a persist just appended, and reads
// from MySQL whatever the copy still lacks (lines of another replica's
// batches, or anything a failure left out): Offer's work, done in place.
// A failure is logged; the next copy makes up for it.
func (p *LogPublisher) CopyNow(ctx context.Context, eventID string, appended LogLines) {
	if len(appended.Lines) > 0 {
		after, err := p.copy.Append(ctx, eventID, appended.First, appended.Lines)
		if err == nil && after >= appended.First+int64(len(appended.Lines))-1 {
			return
		}
	}
	p.SyncQuietly(ctx, eventID)
}

// Run freezes the log once the window closed more than freezeAfter ago
// and keeps the copy complete, every interval and after every Kick or
// Offer, until ctx ends.
func (p *LogPublisher) Run(ctx context.Context, eventID string, interval, freezeAfter time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.kick:
			p.SyncQuietly(ctx, eventID)
			continue
		case appended := <-p.offered:
			p.CopyNow(ctx, eventID, appended)
			continue
		case <-t.C:
		}
		froze, err := p.record.FreezeLog(ctx, eventID, freezeAfter)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("decision log not frozen; will retry", "event", eventID, "err", err)
		}
		if froze {
			p.log.Info("decision log frozen: the window closed", "event", eventID)
		}
		p.SyncQuietly(ctx, eventID)
	}
}
