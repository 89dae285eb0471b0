// Package redisstore is stock-consumer's Redis adapter: the decision and
// restore scripts (Lua files under lua/, loaded once, run with EVALSHA) and
// the reads the decision service needs.
package redisstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// Decider decides batches atomically in Redis.
type Decider struct {
	rdb     redis.UniversalClient
	decide  *redis.Script
	begin   *redis.Script
	restore *redis.Script
	claim   *redis.Script
	live    *redis.Script
}

var _ decision.State = (*Decider)(nil)

// NewDecider loads the Lua scripts once.
func NewDecider(ctx context.Context, rdb redis.UniversalClient) (*Decider, error) {
	decide, err := redisx.LoadScript(ctx, rdb, luaFiles, "lua/decide.lua")
	if err != nil {
		return nil, err
	}
	begin, err := redisx.LoadScript(ctx, rdb, luaFiles, "lua/begin_rebuild.lua")
	if err != nil {
		return nil, err
	}
	restore, err := redisx.LoadScript(ctx, rdb, luaFiles, "lua/restore.lua")
	if err != nil {
		return nil, err
	}
	claim, err := redisx.LoadScript(ctx, rdb, luaFiles, "lua/claim_change.lua")
	if err != nil {
		return nil, err
	}
	live, err := redisx.LoadScript(ctx, rdb, luaFiles, "lua/live_settings.lua")
	if err != nil {
		return nil, err
	}
	return &Decider{rdb: rdb, decide: decide, begin: begin, restore: restore, claim: claim, live: live}, nil
}

// Decide decides apps of one event in order with one Lua call, unless
// Redis's view of the event is behind persisted, MySQL's watermark: then it
// returns decision.ErrNeedsRebuild, as it does when the state is missing.
func (d *Decider) Decide(ctx context.Context, eventID string, apps []decision.Application, persisted decision.Watermark) (decision.Decided, error) {
	k := redisx.KeysFor(eventID)
	args := make([]any, 0, len(apps)+3)
	args = append(args, persisted.Epoch, persisted.Decided, persisted.Winners)
	for _, a := range apps {
		args = append(args, a.Email)
	}
	keys := []string{k.State, k.Remaining, k.Winners, k.Losers, k.Decisions, k.SoldOut, k.Applied, k.Unsettled, k.DecidedAt, k.Epoch}
	res, err := d.decide.Run(ctx, d.rdb, keys, args...).StringSlice()
	if err != nil {
		return decision.Decided{}, fmt.Errorf("decide %d applications of %s: %w", len(apps), eventID, classify(err))
	}
	if len(res) == 1 && res[0] == "REBUILD" {
		return decision.Decided{}, decision.ErrNeedsRebuild
	}
	if len(res) != len(apps)+3 {
		return decision.Decided{}, fmt.Errorf("decide %s: %d results for %d applications", eventID, len(res)-3, len(apps))
	}
	epoch, err1 := strconv.ParseInt(res[0], 10, 64)
	nowMs, err2 := strconv.ParseInt(res[1], 10, 64)
	stock, err3 := strconv.ParseInt(res[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return decision.Decided{}, fmt.Errorf("decide %s: bad epoch, time or stock: %w", eventID, err)
	}
	now := time.UnixMilli(nowMs)
	out := decision.Decided{Epoch: epoch, Decisions: make([]decision.Decision, len(apps))}
	for i, r := range res[3:] {
		flag, stored, _ := strings.Cut(r, "|")
		st, rank, err := decision.ParseStored(stored)
		if err != nil {
			return decision.Decided{}, fmt.Errorf("decide %s: %w", eventID, err)
		}
		out.Decisions[i] = decision.Decision{Application: apps[i], Status: st, Rank: rank, New: flag == "N", DecidedAt: now, Stock: stock}
	}
	return out, nil
}

// rebuildLease is how long a rebuild marker lives without a page written.
const rebuildLease = 15 * time.Second

// BeginRebuild starts rebuilding the event under epoch: it drops the state
// and the decisions, unless a rebuild under this or a newer epoch started
// already (then it reports false and the caller leaves the rebuild to it).
func (d *Decider) BeginRebuild(ctx context.Context, eventID string, epoch int64) (bool, error) {
	k := redisx.KeysFor(eventID)
	n, err := d.begin.Run(ctx, d.rdb, []string{k.State, k.Decisions, k.DecidedAt, k.Epoch, k.Rebuild}, epoch, rebuildLease.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("begin rebuild of %s: %w", eventID, classify(err))
	}
	return n == 1, nil
}

// RestoreDecisions writes persisted decisions, their times and their
// admission markers back to Redis (one pipelined round trip per call).
func (d *Decider) RestoreDecisions(ctx context.Context, eventID string, ds []decision.Decision) error {
	if len(ds) == 0 {
		return nil
	}
	k := redisx.KeysFor(eventID)
	dec := make([]any, 0, 2*len(ds))
	at := make([]any, 0, 2*len(ds))
	for _, x := range ds {
		dec = append(dec, x.Email, string(x.Status)+":"+strconv.FormatInt(x.Rank, 10))
		if !x.DecidedAt.IsZero() {
			at = append(at, x.Email, x.DecidedAt.UnixMilli())
		}
	}
	pipe := d.rdb.Pipeline()
	// Renew the lease of the rebuild in progress: it is alive.
	pipe.PExpire(ctx, k.Rebuild, rebuildLease)
	pipe.HSet(ctx, k.Decisions, dec...)
	if len(at) > 0 {
		pipe.HSet(ctx, k.DecidedAt, at...)
	}
	for _, x := range ds {
		pipe.HSetNX(ctx, k.Applied, x.Email, "P:"+strconv.FormatInt(x.AppliedAt.UnixMilli(), 10))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("restore decisions of %s: %w", eventID, classify(err))
	}
	return nil
}

// RestoreCounters finishes the rebuild under epoch: counters, epoch, and
// the state marked loaded, unless a newer rebuild started meanwhile. It
// reports whether this call restored the state.
func (d *Decider) RestoreCounters(ctx context.Context, eventID string, s decision.EventSettings, winners, losers, epoch int64) (bool, error) {
	k := redisx.KeysFor(eventID)
	keys := []string{k.Total, k.Remaining, k.Winners, k.Losers, k.SoldOut, k.Window, k.State, k.Epoch, k.Rebuild, k.StockVersion,
		k.StockTotalVersion, k.StockPending}
	n, err := d.restore.Run(ctx, d.rdb, keys, s.TotalStock, winners, losers, unixMs(s.OpensAt), unixMs(s.ClosesAt), epoch,
		s.StockVersion, s.WindowVersion).Int()
	if err != nil {
		return false, fmt.Errorf("restore counters of %s: %w", eventID, classify(err))
	}
	return n == 1, nil
}

// ClaimChange marks admin change version of kind applied (claim_change.lua),
// unless the gateway marked it undone first: then it reports false and the
// change must be skipped.
func (d *Decider) ClaimChange(ctx context.Context, eventID string, kind decision.ChangeKind, version int64) (bool, error) {
	n, err := d.claim.Run(ctx, d.rdb, []string{redisx.ChangeMark(eventID, string(kind), version)}, redisx.ChangeMarkTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("claim %s change %d of %s: %w", kind, version, eventID, classify(err))
	}
	return n == 1, nil
}

// LiveSettings brings the live stock and window up to s, each side only if
// Redis holds an older change of it (live_settings.lua).
func (d *Decider) LiveSettings(ctx context.Context, eventID string, s decision.EventSettings) error {
	k := redisx.KeysFor(eventID)
	keys := []string{k.Total, k.Remaining, k.Winners, k.SoldOut, k.StockPending, k.StockTotalVersion, k.StockVersion, k.Window}
	err := d.live.Run(ctx, d.rdb, keys, s.TotalStock, s.StockVersion, unixMs(s.OpensAt), unixMs(s.ClosesAt), s.WindowVersion).Err()
	if err != nil {
		return fmt.Errorf("bring live settings of %s up to MySQL: %w", eventID, classify(err))
	}
	return nil
}

// RebuildInProgress reports whether a rebuild of the event holds a live
// lease (started, and writing pages within the lease).
func (d *Decider) RebuildInProgress(ctx context.Context, eventID string) (bool, error) {
	n, err := d.rdb.Exists(ctx, redisx.KeysFor(eventID).Rebuild).Result()
	if err != nil {
		return false, fmt.Errorf("check rebuild of %s: %w", eventID, classify(err))
	}
	return n == 1, nil
}

// Remaining returns the event's remaining stock (0 when unknown).
func (d *Decider) Remaining(ctx context.Context, eventID string) (int64, error) {
	n, err := d.rdb.Get(ctx, redisx.KeysFor(eventID).Remaining).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read remaining stock of %s: %w", eventID, classify(err))
	}
	return n, nil
}

// NeedsRestore reports whether Redis must be rebuilt before deciding, by
// the same rules as decide.lua: the state is missing, it was restored under
// an older epoch than MySQL's, or its counters are behind persisted.
func (d *Decider) NeedsRestore(ctx context.Context, eventID string, persisted decision.Watermark) (bool, error) {
	k := redisx.KeysFor(eventID)
	vals, err := d.rdb.MGet(ctx, k.State, k.Epoch, k.Winners, k.Losers).Result()
	if err != nil {
		return false, fmt.Errorf("check state of %s: %w", eventID, classify(err))
	}
	if vals[0] == nil || vals[1] == nil {
		return true, nil
	}
	num := func(v any) int64 {
		s, _ := v.(string)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	epoch, winners, losers := num(vals[1]), num(vals[2]), num(vals[3])
	return epoch < persisted.Epoch || winners < persisted.Winners || winners+losers < persisted.Decided, nil
}

// Stranded returns up to limit admissions that were never settled and are
// older than olderThan by Redis's clock (the one the gateways' admit.lua
// stamps them with): their gateway crashed between admission and publish.
func (d *Decider) Stranded(ctx context.Context, eventID string, olderThan time.Duration, limit int) ([]decision.Application, error) {
	now, err := d.rdb.Time(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("read redis time: %w", classify(err))
	}
	cutoff := now.Add(-olderThan)
	zs, err := d.rdb.ZRangeByScoreWithScores(ctx, redisx.KeysFor(eventID).Unsettled, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(cutoff.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("read unsettled admissions of %s: %w", eventID, classify(err))
	}
	out := make([]decision.Application, 0, len(zs))
	for _, z := range zs {
		email, _ := z.Member.(string)
		out = append(out, decision.Application{
			EventID: eventID, Email: email, ApplicationID: "stranded", AppliedAt: time.UnixMilli(int64(z.Score)), Offset: -1,
		})
	}
	return out, nil
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// classify marks err with decision.ErrUnavailable when Redis is down,
// loading, failing over or out of connections, rather than refusing the
// command (a script error fails the same way every time and is left
// unmarked).
func classify(err error) error {
	var netErr net.Error
	var rerr redis.Error
	unavailable := errors.As(err, &netErr) || errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
	if !unavailable && errors.As(err, &rerr) {
		for _, prefix := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS"} {
			if strings.HasPrefix(rerr.Error(), prefix) {
				unavailable = true
			}
		}
	}
	if unavailable {
		return fmt.Errorf("%w: %w", decision.ErrUnavailable, err)
	}
	return err
}
