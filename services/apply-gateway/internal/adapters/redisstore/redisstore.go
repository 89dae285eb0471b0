// Package redisstore is apply-gateway's Redis adapter: admission, status and the
// admin figures, each a single round trip (Lua scripts loaded once).
package redisstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admin"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// Redis keeps one event's live state.
type Redis struct {
	rdb               redis.UniversalClient
	eventID           string
	keys              redisx.EventKeys
	admit             *redis.Script
	settle            *redis.Script
	setStock          *redis.Script
	settleStockScript *redis.Script
	setWindow         *redis.Script
	undoWindow        *redis.Script
}

var (
	_ admission.Store = (*Redis)(nil)
	_ admin.Store     = (*Redis)(nil)
)

// NewRedis loads the scripts once.
func NewRedis(ctx context.Context, rdb redis.UniversalClient, eventID string) (*Redis, error) {
	r := &Redis{rdb: rdb, eventID: eventID, keys: redisx.KeysFor(eventID)}
	for path, dst := range map[string]**redis.Script{
		"lua/admit.lua": &r.admit, "lua/settle.lua": &r.settle, "lua/set_stock.lua": &r.setStock,
		"lua/settle_stock.lua": &r.settleStockScript, "lua/set_window.lua": &r.setWindow, "lua/undo_window.lua": &r.undoWindow,
	} {
		s, err := redisx.LoadScript(ctx, rdb, luaFiles, path)
		if err != nil {
			return nil, err
		}
		*dst = s
	}
	return r, nil
}

// Admit runs the admission script; it reads Redis's clock, not ours.
func (r *Redis) Admit(ctx context.Context, email string, grace time.Duration) (admission.Outcome, string, error) {
	res, err := r.admit.Run(ctx, r.rdb,
		[]string{r.keys.Window, r.keys.Decisions, r.keys.Applied, r.keys.SoldOut, r.keys.State, r.keys.Unsettled},
		email, grace.Milliseconds()).StringSlice()
	if err != nil {
		return "", "", fmt.Errorf("admit script: %w", err)
	}
	if len(res) != 2 {
		return "", "", fmt.Errorf("admit script: unexpected reply %v", res)
	}
	return admission.Outcome(res[0]), res[1], nil
}

// Settle marks the admission published and keeps its receipt, or removes
// the marker after a failed publish.
func (r *Redis) Settle(ctx context.Context, email, marker string, published bool, receipt string) error {
	mode := "undo"
	if published {
		mode = "published"
	}
	if err := r.settle.Run(ctx, r.rdb, []string{r.keys.Applied, r.keys.Unsettled, r.keys.Receipts}, email, marker, mode, receipt).Err(); err != nil {
		return fmt.Errorf("settle admission: %w", err)
	}
	return nil
}

// Status reads the decision (and a winner's rank), falling back to the
// admission marker, with the receipt kept at the 202.
func (r *Redis) Status(ctx context.Context, email string) (admission.View, bool, error) {
	pipe := r.rdb.Pipeline()
	dec := pipe.HGet(ctx, r.keys.Decisions, email)
	applied := pipe.HExists(ctx, r.keys.Applied, email)
	receipt := pipe.HGet(ctx, r.keys.Receipts, email)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return admission.View{}, false, fmt.Errorf("read status: %w", err)
	}
	v := admission.View{Receipt: receipt.Val()}
	if d, err := dec.Result(); err == nil {
		st, rank, _ := strings.Cut(d, ":")
		if st == string(admission.Success) {
			v.Status = admission.Success
			v.Rank, _ = strconv.ParseInt(rank, 10, 64)
			return v, true, nil
		}
		v.Status = admission.Failure
		return v, true, nil
	}
	if applied.Val() {
		v.Status = admission.Pending
		return v, true, nil
	}
	return admission.View{}, false, nil
}

// SoldOut reports the shared sold-out flag.
func (r *Redis) SoldOut(ctx context.Context) (bool, error) {
	v, err := r.rdb.Get(ctx, r.keys.SoldOut).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read sold-out flag: %w", err)
	}
	return v == "1", nil
}

func (r *Redis) stockKeys() []string {
	return []string{r.keys.Total, r.keys.Remaining, r.keys.Winners, r.keys.SoldOut, r.keys.State, r.keys.StockVersion, r.keys.StockPending}
}

// PrepareStock checks total against the winners and numbers the change, in
// one script (set_stock.lua).
func (r *Redis) PrepareStock(ctx context.Context, total int64, pending time.Duration) (admin.StockChange, error) {
	res, err := r.setStock.Run(ctx, r.rdb, r.stockKeys(), total, pending.Milliseconds()).Int64Slice()
	if err != nil {
		return admin.StockChange{}, fmt.Errorf("set stock script: %w", err)
	}
	switch {
	case len(res) == 2 && res[0] > 0:
		return admin.StockChange{Version: res[0], Total: total, Previous: res[1]}, nil
	case len(res) == 1 && res[0] == -1:
		return admin.StockChange{}, errors.New("set stock: event state not loaded yet (stock-consumer is restoring it)")
	case len(res) == 2 && res[0] == -2:
		return admin.StockChange{}, fmt.Errorf("%w (%d)", admin.ErrStockBelowWinners, res[1])
	case len(res) == 1 && res[0] == -3:
		return admin.StockChange{}, admin.ErrChangeInProgress
	}
	return admin.StockChange{}, fmt.Errorf("set stock script: unexpected reply %v", res)
}

// CommitStock writes an acknowledged change live (settle_stock.lua
// commit); a change older than the total Redis holds is left alone.
func (r *Redis) CommitStock(ctx context.Context, c admin.StockChange) error {
	if _, err := r.settleStock(ctx, c, "commit"); err != nil {
		return err
	}
	return nil
}

// UndoStock marks the change undone and takes it back (settle_stock.lua
// undo), unless stock-consumer had marked it applied: then it is committed
// and UndoStock reports true.
func (r *Redis) UndoStock(ctx context.Context, c admin.StockChange) (bool, error) {
	return r.settleStock(ctx, c, "undo")
}

func (r *Redis) settleStock(ctx context.Context, c admin.StockChange, mode string) (bool, error) {
	keys := []string{r.keys.Total, r.keys.Remaining, r.keys.Winners, r.keys.SoldOut, r.keys.StockPending,
		r.keys.StockTotalVersion, redisx.ChangeMark(r.eventID, "stock", c.Version)}
	n, err := r.settleStockScript.Run(ctx, r.rdb, keys, c.Version, c.Total, mode, redisx.ChangeMarkTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("settle stock script (%s): %w", mode, err)
	}
	return n == 1, nil
}

// SetWindow stores the application window and numbers the change.
func (r *Redis) SetWindow(ctx context.Context, opensAt, closesAt time.Time) (admin.WindowChange, error) {
	res, err := r.setWindow.Run(ctx, r.rdb, []string{r.keys.Window, r.keys.State}, opensAt.UnixMilli(), closesAt.UnixMilli()).StringSlice()
	if err != nil {
		return admin.WindowChange{}, fmt.Errorf("set window script: %w", err)
	}
	if len(res) == 1 && res[0] == "-1" {
		return admin.WindowChange{}, errors.New("set window: event state not loaded yet (stock-consumer is restoring it)")
	}
	if len(res) != 4 {
		return admin.WindowChange{}, fmt.Errorf("set window script: unexpected reply %v", res)
	}
	v, err := strconv.ParseInt(res[0], 10, 64)
	if err != nil {
		return admin.WindowChange{}, fmt.Errorf("set window script: version %q: %w", res[0], err)
	}
	applied, err := strconv.ParseInt(res[3], 10, 64)
	if err != nil {
		return admin.WindowChange{}, fmt.Errorf("set window script: applied version %q: %w", res[3], err)
	}
	return admin.WindowChange{
		Version: v, PreviousOpensAt: msTime(res[1]), PreviousClosesAt: msTime(res[2]),
		HadPrevious: res[1] != "" || res[2] != "", PreviousApplied: applied,
	}, nil
}

// UndoWindow marks the change undone and restores the window c replaced,
// unless a later change came; when stock-consumer had marked the change
// applied, it is kept and UndoWindow reports true.
func (r *Redis) UndoWindow(ctx context.Context, c admin.WindowChange) (bool, error) {
	opens, closes := "", ""
	if c.HadPrevious {
		opens, closes = strconv.FormatInt(unixMs(c.PreviousOpensAt), 10), strconv.FormatInt(unixMs(c.PreviousClosesAt), 10)
	}
	keys := []string{r.keys.Window, redisx.ChangeMark(r.eventID, "window", c.Version)}
	n, err := r.undoWindow.Run(ctx, r.rdb, keys, c.Version, opens, closes, c.PreviousApplied, redisx.ChangeMarkTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("undo window script: %w", err)
	}
	return n == 1, nil
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Stats reads every figure in one pipelined round trip.
func (r *Redis) Stats(ctx context.Context) (admin.Stats, error) {
	pipe := r.rdb.Pipeline()
	total := pipe.Get(ctx, r.keys.Total)
	remaining := pipe.Get(ctx, r.keys.Remaining)
	winners := pipe.Get(ctx, r.keys.Winners)
	losers := pipe.Get(ctx, r.keys.Losers)
	applied := pipe.HLen(ctx, r.keys.Applied)
	decided := pipe.HLen(ctx, r.keys.Decisions)
	soldOut := pipe.Get(ctx, r.keys.SoldOut)
	window := pipe.HMGet(ctx, r.keys.Window, "opens_at", "closes_at")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return admin.Stats{}, fmt.Errorf("read stats: %w", err)
	}
	s := admin.Stats{
		EventID:   r.eventID,
		Total:     intOf(total),
		Remaining: intOf(remaining),
		Winners:   intOf(winners),
		Losers:    intOf(losers),
		Pending:   max(applied.Val()-decided.Val(), 0),
		SoldOut:   soldOut.Val() == "1",
	}
	if vals := window.Val(); len(vals) == 2 {
		s.OpensAt = msTime(vals[0])
		s.ClosesAt = msTime(vals[1])
	}
	return s, nil
}

// winnersPageSize is the HSCAN COUNT hint of the winners export: how many
// decisions one round trip reads (a hint, Redis may return a few more).
const winnersPageSize = 1000

// ScanWinners walks the decisions hash with HSCAN, keeps the winners of each
// page, reads their decision times with one HMGET and hands the page on
// before reading the next one.
func (r *Redis) ScanWinners(ctx context.Context, page func([]admin.Winner) error) error {
	var cursor uint64
	for {
		kv, next, err := r.rdb.HScan(ctx, r.keys.Decisions, cursor, "", winnersPageSize).Result()
		if err != nil {
			return fmt.Errorf("scan decisions: %w", err)
		}
		winners := winnersOf(kv)
		if len(winners) > 0 {
			emails := make([]string, len(winners))
			for i, w := range winners {
				emails[i] = w.Email
			}
			at, err := r.rdb.HMGet(ctx, r.keys.DecidedAt, emails...).Result()
			if err != nil {
				return fmt.Errorf("read decision times: %w", err)
			}
			for i := range winners {
				if i < len(at) {
					winners[i].DecidedAt = msTime(at[i])
				}
			}
			if err := page(winners); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// winnersOf keeps the "SUCCESS:<rank>" entries of an HSCAN page (field,
// value, field, value, …).
func winnersOf(kv []string) []admin.Winner {
	var out []admin.Winner
	for i := 0; i+1 < len(kv); i += 2 {
		r, ok := strings.CutPrefix(kv[i+1], "SUCCESS:")
		if !ok {
			continue
		}
		rank, err := strconv.ParseInt(r, 10, 64)
		if err != nil || rank < 1 {
			continue
		}
		out = append(out, admin.Winner{Rank: rank, Email: kv[i]})
	}
	return out
}

func intOf(c *redis.StringCmd) int64 {
	n, err := c.Int64()
	if err != nil {
		return 0
	}
	return n
}

func msTime(v any) time.Time {
	s, ok := v.(string)
	if !ok {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
