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

	"github.com/terning-farewell/farewell/pkg/fairlog"
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

// SaveDecisions persists one event's decisions, made in Redis under epoch,
// in one transaction fenced by the event's row:
//   - the row is locked and its epoch must still be epoch, else a rebuild
//     happened since the decision and decision.ErrFenced is returned;
//   - decisions already stored (replays) must match the stored ones, and the
//     new ones are inserted with one multi-row insert whose ranks must be
//     free, else Redis decided on a view older than MySQL's and
//     decision.ErrStateBehind is returned;
//   - the watermark (decided, winners) grows by what was inserted.
//
// On any error nothing is written.
func (r *Repository) SaveDecisions(ctx context.Context, epoch int64, ds []decision.Decision) (decision.LogLines, error) {
	if len(ds) == 0 {
		return decision.LogLines{}, nil
	}
	eventID := ds[0].EventID
	var appended decision.LogLines
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var current []int64
		if err := tx.Raw("SELECT epoch FROM events WHERE id = ? FOR UPDATE", eventID).Scan(&current).Error; err != nil {
			return fmt.Errorf("lock event: %w", err)
		}
		if len(current) == 0 || current[0] != epoch {
			return fmt.Errorf("%w: decided under epoch %d, mysql has %v", decision.ErrFenced, epoch, current)
		}
		fresh, err := insertNew(tx, eventID, ds)
		if err != nil || len(fresh) == 0 {
			return err
		}
		winners, _ := decision.Count(fresh)
		if err := tx.Exec("UPDATE events SET decided = decided + ?, winners = winners + ? WHERE id = ?", len(fresh), winners, eventID).Error; err != nil {
			return err
		}
		// The log holds exactly what is persisted, in commit order.
		appended, err = appendLog(tx, eventID, decisionEntries(fresh))
		return err
	})
	if err != nil {
		return decision.LogLines{}, fmt.Errorf("persist %d decisions of %s: %w", len(ds), eventID, classify(err))
	}
	return appended, nil
}

// insertNew inserts the decisions of ds that MySQL does not have yet and
// returns them. Usually none is stored (a batch's first delivery), so it
// first inserts them all in one statement; only when some row is left out
// (a redelivery, or a rank taken) or the insert fails (a redelivered
// message whose row was stored without a field MySQL refused) does it undo
// that insert and look up which are stored already: a stored one must
// equal its decision in ds, and a new one whose rank is taken is
// decision.ErrStateBehind.
func insertNew(tx *gorm.DB, eventID string, ds []decision.Decision) ([]decision.Decision, error) {
	if err := tx.SavePoint("insert_new").Error; err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	inserted, err := insertDecisions(tx, ds)
	if err == nil && inserted == int64(len(ds)) {
		return ds, nil
	}
	if err := tx.RollbackTo("insert_new").Error; err != nil {
		return nil, fmt.Errorf("roll back to savepoint: %w", err)
	}
	fresh, err := unstored(tx, eventID, ds)
	if err != nil || len(fresh) == 0 {
		return nil, err
	}
	if inserted, err = insertDecisions(tx, fresh); err != nil {
		return nil, err
	}
	if inserted != int64(len(fresh)) {
		return nil, fmt.Errorf("%w: %d of %d new decisions hold a rank stored already", decision.ErrStateBehind, int64(len(fresh))-inserted, len(fresh))
	}
	return fresh, nil
}

// unstored returns the decisions of ds that MySQL does not have yet; a
// stored one that differs from its decision in ds is decision.ErrStateBehind.
func unstored(tx *gorm.DB, eventID string, ds []decision.Decision) ([]decision.Decision, error) {
	emails := make([]string, len(ds))
	for i, d := range ds {
		emails[i] = d.Email
	}
	var rows []applicationRow
	if err := tx.Raw("SELECT email, status, `rank` FROM applications WHERE event_id = ? AND email IN ?", eventID, emails).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("read stored decisions: %w", err)
	}
	stored := make(map[string]applicationRow, len(rows))
	for _, row := range rows {
		stored[row.Email] = row
	}
	fresh := make([]decision.Decision, 0, len(ds))
	for _, d := range ds {
		row, ok := stored[d.Email]
		if !ok {
			fresh = append(fresh, d)
			continue
		}
		if row.Status != string(d.Status) || row.Rank != d.Rank {
			return nil, fmt.Errorf("%w: %s is %s:%d in mysql, redis says %s:%d", decision.ErrStateBehind, d.Email, row.Status, row.Rank, d.Status, d.Rank)
		}
	}
	return fresh, nil
}

// insertDecisions inserts ds with one multi-row INSERT IGNORE and returns
// how many rows it inserted: the emails are known to be new, so a row left
// out holds a rank that is stored already.
func insertDecisions(tx *gorm.DB, ds []decision.Decision) (int64, error) {
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
	res := tx.Exec(sb.String(), args...)
	if res.Error != nil {
		return 0, fmt.Errorf("insert %d decisions: %w", len(ds), res.Error)
	}
	return res.RowsAffected, nil
}

// Watermark reads the event's rebuild epoch and how many decisions and
// winners are persisted: one primary-key read, before every batch.
func (r *Repository) Watermark(ctx context.Context, eventID string) (decision.Watermark, error) {
	var rows []struct {
		Epoch   int64
		Decided int64
		Winners int64
	}
	if err := r.db.WithContext(ctx).Raw("SELECT epoch, decided, winners FROM events WHERE id = ?", eventID).Scan(&rows).Error; err != nil {
		return decision.Watermark{}, fmt.Errorf("read watermark of %s: %w", eventID, classify(err))
	}
	if len(rows) == 0 {
		return decision.Watermark{}, nil
	}
	return decision.Watermark{Epoch: rows[0].Epoch, Decided: rows[0].Decided, Winners: rows[0].Winners}, nil
}

// FenceRebuild takes a new rebuild epoch for the event: the increment waits
// for every batch insert holding the row, and every batch decided under an
// older epoch is refused from now on. It creates the event's row if needed.
func (r *Repository) FenceRebuild(ctx context.Context, eventID string) (int64, error) {
	var epoch int64
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("INSERT INTO events (id, epoch) VALUES (?, 1) ON DUPLICATE KEY UPDATE epoch = epoch + 1", eventID).Error; err != nil {
			return err
		}
		return tx.Raw("SELECT epoch FROM events WHERE id = ?", eventID).Scan(&epoch).Error
	})
	if err != nil {
		return 0, fmt.Errorf("fence rebuild of %s: %w", eventID, classify(err))
	}
	return epoch, nil
}

// SetWatermark records the counts a rebuild under epoch read, so the
// watermark equals the rows even if it drifted; no batch can insert under
// epoch before the rebuild finished.
func (r *Repository) SetWatermark(ctx context.Context, eventID string, epoch, decided, winners int64) error {
	err := r.db.WithContext(ctx).Exec("UPDATE events SET decided = ?, winners = ? WHERE id = ? AND epoch = ?", decided, winners, eventID, epoch).Error
	if err != nil {
		return fmt.Errorf("set watermark of %s: %w", eventID, classify(err))
	}
	return nil
}

// SetStock records the event's total stock unless a newer stock change
// (higher version) was recorded: changes are kept in the order apply-gateway
// numbered them, whatever order they arrive in. Version 0 (writers that do
// not number changes) applies only while no numbered change was recorded.
// A change that applies is appended to the decision log in the same
// transaction (a redelivered one, same version and total, is not).
func (r *Repository) SetStock(ctx context.Context, eventID string, total, version int64) error {
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ev, err := lockEvent(tx, eventID)
		if err != nil {
			return err
		}
		if version < ev.StockVersion {
			return nil
		}
		if err := tx.Exec("UPDATE events SET total_stock = ?, stock_version = ? WHERE id = ?", total, version, eventID).Error; err != nil {
			return err
		}
		if version == ev.StockVersion && total == ev.TotalStock {
			return nil
		}
		_, err = appendLog(tx, eventID, []fairlog.Entry{{Kind: fairlog.KindStock, At: time.Now().UnixMilli(), Stock: total, Version: version}})
		return err
	})
	if err != nil {
		return fmt.Errorf("set stock of %s: %w", eventID, classify(err))
	}
	return nil
}

// SetWindow records the event's application window (zero: unbounded),
// unless a newer window change was recorded (see SetStock).
func (r *Repository) SetWindow(ctx context.Context, eventID string, opensAt, closesAt time.Time, version int64) error {
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ev, err := lockEvent(tx, eventID)
		if err != nil {
			return err
		}
		if version < ev.WindowVersion {
			return nil
		}
		err = tx.Exec("UPDATE events SET opens_at = ?, closes_at = ?, window_version = ? WHERE id = ?",
			nullTime(opensAt), nullTime(closesAt), version, eventID).Error
		if err != nil {
			return err
		}
		opens, closes := unixMsOf(opensAt), unixMsOf(closesAt)
		if version == ev.WindowVersion && opens == msOf(ev.OpensAt) && closes == msOf(ev.ClosesAt) {
			return nil
		}
		_, err = appendLog(tx, eventID, []fairlog.Entry{{Kind: fairlog.KindWindow, At: time.Now().UnixMilli(), Version: version, OpensAt: opens, ClosesAt: closes}})
		return err
	})
	if err != nil {
		return fmt.Errorf("set window of %s: %w", eventID, classify(err))
	}
	return nil
}

func unixMsOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
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
