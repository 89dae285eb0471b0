// Package mysqlstore is stock-consumer's MySQL adapter, the source of truth:
// versioned migrations (migrations/*.sql, embedded) and the rows of events
// and decisions. gorm stays in this package.
package mysqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/terning-farewell/farewell/pkg/mysqlx"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Snapshot is an event's persisted state (tests read it whole; the rebuild
// pages through it).
type Snapshot struct {
	EventID   string
	Settings  decision.EventSettings
	Decisions []decision.Decision
}

// Repository persists events and decisions in MySQL.
type Repository struct {
	db *gorm.DB
}

var _ decision.Repository = (*Repository)(nil)

// NewRepository wraps an open connection.
func NewRepository(db *gorm.DB) *Repository { return &Repository{db: db} }

// OpenRepository connects to MySQL.
func OpenRepository(ctx context.Context, dsn string, maxOpen int) (*Repository, error) {
	db, err := mysqlx.Open(ctx, mysqlx.Config{DSN: dsn, MaxOpenConns: maxOpen, MaxIdleConns: maxOpen})
	if err != nil {
		return nil, err
	}
	return &Repository{db: db}, nil
}

// Ping reports whether MySQL answers.
func (r *Repository) Ping(ctx context.Context) error { return mysqlx.Ping(ctx, r.db) }

// Close closes the connection pool.
func (r *Repository) Close() error { return mysqlx.Close(r.db) }

// Migrate applies the versioned schema migrations.
func (r *Repository) Migrate(ctx context.Context, log *slog.Logger) error {
	ms, err := mysqlx.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	err = mysqlx.WithLock(ctx, r.db, "farewell_migrations", func(db *gorm.DB) error {
		_, err := mysqlx.Migrate(ctx, db, ms, log)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// ColumnsPerDecision is how many placeholders one decision takes in the
// multi-row INSERT of SaveDecisions; MySQL allows MaxPlaceholders in one
// statement, so one batch holds at most MaxDecisionsPerInsert decisions.
const (
	ColumnsPerDecision    = 7
	MaxPlaceholders       = 65535
	MaxDecisionsPerInsert = MaxPlaceholders / ColumnsPerDecision
)

// SaveDecisions inserts the decisions with one multi-row INSERT IGNORE: the
// unique (event_id, email) key makes replays change nothing.
func (r *Repository) SaveDecisions(ctx context.Context, ds []decision.Decision) error {
	if len(ds) == 0 {
		return nil
	}
	var sb strings.Builder
	sb.WriteString("INSERT IGNORE INTO applications (event_id, email, status, `rank`, application_id, applied_at, decided_at) VALUES ")
	args := make([]any, 0, ColumnsPerDecision*len(ds))
	for i, d := range ds {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString("(?,?,?,?,?,?,?)")
		args = append(args, d.EventID, d.Email, string(d.Status), d.Rank, d.ApplicationID, d.AppliedAt.UTC(), d.DecidedAt.UTC())
	}
	if err := r.db.WithContext(ctx).Exec(sb.String(), args...).Error; err != nil {
		return fmt.Errorf("insert %d decisions: %w", len(ds), classify(err))
	}
	return nil
}

// SetStock records the event's total stock unless a newer stock change
// (higher version) was recorded: changes are kept in the order apply-gateway
// numbered them, whatever order they arrive in. Version 0 (writers that do
// not number changes) applies only while no numbered change was recorded.
func (r *Repository) SetStock(ctx context.Context, eventID string, total, version int64) error {
	err := r.db.WithContext(ctx).Exec(
		"INSERT INTO events (id, total_stock, stock_version) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE "+
			"total_stock = IF(VALUES(stock_version) >= stock_version, VALUES(total_stock), total_stock), "+
			"stock_version = GREATEST(stock_version, VALUES(stock_version))",
		eventID, total, version).Error
	if err != nil {
		return fmt.Errorf("set stock of %s: %w", eventID, classify(err))
	}
	return nil
}

// SetWindow records the event's application window (zero: unbounded),
// unless a newer window change was recorded (see SetStock).
func (r *Repository) SetWindow(ctx context.Context, eventID string, opensAt, closesAt time.Time, version int64) error {
	err := r.db.WithContext(ctx).Exec(
		"INSERT INTO events (id, opens_at, closes_at, window_version) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE "+
			"opens_at = IF(VALUES(window_version) >= window_version, VALUES(opens_at), opens_at), "+
			"closes_at = IF(VALUES(window_version) >= window_version, VALUES(closes_at), closes_at), "+
			"window_version = GREATEST(window_version, VALUES(window_version))",
		eventID, nullTime(opensAt), nullTime(closesAt), version).Error
	if err != nil {
		return fmt.Errorf("set window of %s: %w", eventID, classify(err))
	}
	return nil
}

type eventRow struct {
	ID            string
	TotalStock    int64
	OpensAt       *time.Time
	ClosesAt      *time.Time
	StockVersion  int64
	WindowVersion int64
}

type applicationRow struct {
	ID            int64
	Email         string
	Status        string
	Rank          int64
	ApplicationID string
	AppliedAt     time.Time
	DecidedAt     time.Time
}

// Settings reads the event's configuration; an event that was never
// configured has no stock.
func (r *Repository) Settings(ctx context.Context, eventID string) (decision.EventSettings, error) {
	var ev eventRow
	err := r.db.WithContext(ctx).Raw("SELECT id, total_stock, opens_at, closes_at, stock_version, window_version FROM events WHERE id = ?", eventID).Scan(&ev).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return decision.EventSettings{}, fmt.Errorf("read event %s: %w", eventID, classify(err))
	}
	s := decision.EventSettings{TotalStock: ev.TotalStock, StockVersion: ev.StockVersion, WindowVersion: ev.WindowVersion}
	if ev.OpensAt != nil {
		s.OpensAt = *ev.OpensAt
	}
	if ev.ClosesAt != nil {
		s.ClosesAt = *ev.ClosesAt
	}
	return s, nil
}

// DecisionPage returns up to limit decisions of the event with a row id
// above afterID, in id order, and the last id returned (for the next page).
func (r *Repository) DecisionPage(ctx context.Context, eventID string, afterID int64, limit int) ([]decision.Decision, int64, error) {
	var rows []applicationRow
	err := r.db.WithContext(ctx).Raw(
		"SELECT id, email, status, `rank`, application_id, applied_at, decided_at FROM applications WHERE event_id = ? AND id > ? ORDER BY id LIMIT ?",
		eventID, afterID, limit).Scan(&rows).Error
	if err != nil {
		return nil, afterID, fmt.Errorf("read decisions of %s: %w", eventID, classify(err))
	}
	out := make([]decision.Decision, 0, len(rows))
	for _, row := range rows {
		out = append(out, decision.Decision{
			Application: decision.Application{EventID: eventID, Email: row.Email, ApplicationID: row.ApplicationID, AppliedAt: row.AppliedAt},
			Status:      decision.Status(row.Status), Rank: row.Rank, DecidedAt: row.DecidedAt,
		})
		afterID = row.ID
	}
	return out, afterID, nil
}

// Snapshot reads the whole event at once (for tests and tools; the rebuild
// pages through DecisionPage instead, to keep memory bounded).
func (r *Repository) Snapshot(ctx context.Context, eventID string) (Snapshot, error) {
	settings, err := r.Settings(ctx, eventID)
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{EventID: eventID, Settings: settings}
	var after int64
	for {
		page, last, err := r.DecisionPage(ctx, eventID, after, 5000)
		if err != nil {
			return Snapshot{}, err
		}
		if len(page) == 0 {
			return s, nil
		}
		s.Decisions = append(s.Decisions, page...)
		after = last
	}
}

// Counts returns winners and losers persisted for the event.
func (r *Repository) Counts(ctx context.Context, eventID string) (winners, losers int64, err error) {
	var rows []struct {
		Status string
		N      int64
	}
	err = r.db.WithContext(ctx).Raw("SELECT status, COUNT(*) AS n FROM applications WHERE event_id = ? GROUP BY status", eventID).Scan(&rows).Error
	if err != nil {
		return 0, 0, fmt.Errorf("count decisions of %s: %w", eventID, classify(err))
	}
	for _, row := range rows {
		switch decision.Status(row.Status) {
		case decision.Success:
			winners = row.N
		case decision.Failure:
			losers = row.N
		}
	}
	return winners, losers, nil
}

// unavailableCodes are the MySQL errors of a server that is down, failing
// over, overloaded or that dropped the connection: too many connections
// (1040), shutdown (1053), lock wait timeout (1205), deadlock (1213),
// read-only (1290, 1836), query interrupted (1317), connection killed
// (1927), and the client's connection errors (2002, 2003, 2006, 2013).
var unavailableCodes = map[uint16]bool{
	1040: true, 1053: true, 1205: true, 1213: true, 1290: true, 1317: true,
	1836: true, 1927: true, 2002: true, 2003: true, 2006: true, 2013: true,
}

// classify marks err with decision.ErrUnavailable when MySQL is down rather
// than refusing the statement; a refusal (a value out of range, too long)
// fails the same way every time and is left unmarked.
func classify(err error) error {
	var my *mysql.MySQLError
	var netErr net.Error
	switch {
	case errors.As(err, &my) && unavailableCodes[my.Number],
		errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, driver.ErrBadConn), errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, sql.ErrConnDone):
		return fmt.Errorf("%w: %w", decision.ErrUnavailable, err)
	}
	return err
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}
