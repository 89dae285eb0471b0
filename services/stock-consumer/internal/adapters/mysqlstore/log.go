package mysqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
)

// ColumnsPerLogEntry is how many placeholders one log entry takes in the
// multi-row INSERT of appendLog; it inserts at most maxLogRowsPerInsert
// rows a statement.
const ColumnsPerLogEntry = 4

const maxLogRowsPerInsert = MaxPlaceholders / ColumnsPerLogEntry

// appendLog appends entries to the event's decision log inside tx. The
// caller holds the events row lock (SELECT … FOR UPDATE), so appends of
// concurrent transactions are serialised and the chain has one order: the
// order of commits.
//
// A decision made under a stock other than the one the log is at (an admin
// change Redis applied before its own entry, or one overtaken by a newer
// change and never persisted) is preceded by a stock-seen entry, so every
// decision's stock is recorded before it.
func appendLog(tx *gorm.DB, eventID string, entries []fairlog.Entry) (decision.LogLines, error) {
	if len(entries) == 0 {
		return decision.LogLines{}, nil
	}
	var heads []struct {
		LogSeq   int64
		LogHead  string
		LogStock int64
	}
	if err := tx.Raw("SELECT log_seq, log_head, log_stock FROM events WHERE id = ?", eventID).Scan(&heads).Error; err != nil {
		return decision.LogLines{}, fmt.Errorf("read log head: %w", err)
	}
	if len(heads) == 0 {
		return decision.LogLines{}, fmt.Errorf("read log head: no events row for %s", eventID)
	}
	seq, prev, stock := heads[0].LogSeq, heads[0].LogHead, heads[0].LogStock
	if prev == "" {
		prev = fairlog.GenesisHash
	}
	rows := make([]fairlog.Entry, 0, len(entries)+1)
	for _, e := range entries {
		switch e.Kind {
		case fairlog.KindStock:
			stock = e.Stock
		case fairlog.KindDecision:
			if e.Stock != stock {
				rows = append(rows, fairlog.Entry{Kind: fairlog.KindStockSeen, At: e.At, Stock: e.Stock})
				stock = e.Stock
			}
		}
		rows = append(rows, e)
	}
	appended := decision.LogLines{First: seq + 1, Lines: make([]string, 0, len(rows))}
	for start := 0; start < len(rows); start += maxLogRowsPerInsert {
		chunk := rows[start:min(start+maxLogRowsPerInsert, len(rows))]
		var sb strings.Builder
		sb.WriteString("INSERT INTO decision_log (event_id, seq, entry, hash) VALUES ")
		args := make([]any, 0, ColumnsPerLogEntry*len(chunk))
		for i, e := range chunk {
			seq++
			e.Seq = seq
			e.Event = eventID
			sealed, line := fairlog.Seal(prev, e)
			prev = sealed.Hash
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString("(?,?,?,?)")
			args = append(args, eventID, seq, string(line), sealed.Hash)
			appended.Lines = append(appended.Lines, string(line))
		}
		if err := tx.Exec(sb.String(), args...).Error; err != nil {
			return decision.LogLines{}, fmt.Errorf("append %d log entries: %w", len(chunk), err)
		}
	}
	if err := tx.Exec("UPDATE events SET log_seq = ?, log_head = ?, log_stock = ? WHERE id = ?", seq, prev, stock, eventID).Error; err != nil {
		return decision.LogLines{}, fmt.Errorf("advance log head: %w", err)
	}
	return appended, nil
}

// decisionEntries are the log entries of newly persisted decisions, in
// the batch's (log) order. A dead-lettered application decided again is
// a late decision at its place when Redis had decided it there already;
// when Redis decided it only now (its earlier decision was lost with a
// rebuild), it is an ordinary decision made now, out of its place, so
// its entry carries offset -1 like a stranded admission's.
func decisionEntries(ds []decision.Decision) []fairlog.Entry {
	out := make([]fairlog.Entry, 0, len(ds))
	for _, d := range ds {
		e := fairlog.Entry{
			Kind: fairlog.KindDecision, At: d.DecidedAt.UnixMilli(), Participant: d.Participant,
			Partition: d.Partition, Offset: d.Offset, Status: string(d.Status), Rank: d.Rank, Stock: d.Stock,
		}
		switch {
		case d.Late && d.New:
			e.Offset = -1
		case d.Late:
			e.Kind = fairlog.KindLateDecision
		}
		out = append(out, e)
	}
	return out
}

// LogAfter returns up to limit log lines of the event with a sequence
// number above after, in order.
func (r *Repository) LogAfter(ctx context.Context, eventID string, after int64, limit int) ([]string, error) {
	var lines []string
	err := r.db.WithContext(ctx).Raw("SELECT entry FROM decision_log WHERE event_id = ? AND seq > ? ORDER BY seq LIMIT ?",
		eventID, after, limit).Scan(&lines).Error
	if err != nil {
		return nil, fmt.Errorf("read log of %s: %w", eventID, classify(err))
	}
	return lines, nil
}

// FreezeLog appends the freeze entry once the event's window closed more
// than after ago (by MySQL's clock), and reports whether it did now. Every
// replica asks every second, so the row is locked only when a freeze is due.
func (r *Repository) FreezeLog(ctx context.Context, eventID string, after time.Duration) (bool, error) {
	var due []bool
	err := r.db.WithContext(ctx).Raw("SELECT (closes_at IS NOT NULL AND closes_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND) "+
		"FROM events WHERE id = ? AND log_frozen = 0", after.Microseconds(), eventID).Scan(&due).Error
	if err != nil {
		return false, fmt.Errorf("freeze log of %s: %w", eventID, classify(err))
	}
	if len(due) == 0 || !due[0] {
		return false, nil
	}
	froze := false
	err = r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []struct {
			ClosesAt *time.Time
			Due      bool
		}
		err := tx.Raw("SELECT closes_at, (closes_at IS NOT NULL AND closes_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND) AS due "+
			"FROM events WHERE id = ? AND log_frozen = 0 FOR UPDATE", after.Microseconds(), eventID).Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("read window: %w", err)
		}
		if len(rows) == 0 || !rows[0].Due {
			return nil
		}
		entry := fairlog.Entry{Kind: fairlog.KindFreeze, At: time.Now().UnixMilli(), ClosesAt: rows[0].ClosesAt.UnixMilli()}
		if _, err := appendLog(tx, eventID, []fairlog.Entry{entry}); err != nil {
			return err
		}
		froze = true
		return tx.Exec("UPDATE events SET log_frozen = 1 WHERE id = ?", eventID).Error
	})
	if err != nil {
		return false, fmt.Errorf("freeze log of %s: %w", eventID, classify(err))
	}
	return froze, nil
}

// lockEvent creates the event's row if needed and locks it.
func lockEvent(tx *gorm.DB, eventID string) (eventRow, error) {
	// Not INSERT IGNORE: that would turn a refused id (too long) into a
	// warning and a truncated row.
	if err := tx.Exec("INSERT INTO events (id) VALUES (?) ON DUPLICATE KEY UPDATE id = id", eventID).Error; err != nil {
		return eventRow{}, fmt.Errorf("create event: %w", err)
	}
	var ev eventRow
	err := tx.Raw("SELECT id, total_stock, opens_at, closes_at, stock_version, window_version FROM events WHERE id = ? FOR UPDATE", eventID).Scan(&ev).Error
	if err != nil {
		return eventRow{}, fmt.Errorf("lock event: %w", err)
	}
	return ev, nil
}

func msOf(t *time.Time) int64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
