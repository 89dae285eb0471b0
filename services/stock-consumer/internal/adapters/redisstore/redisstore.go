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
	restore *redis.Script
}

var _ decision.State = (*Decider)(nil)

// NewDecider loads the Lua scripts once.
func NewDecider(ctx context.Context, rdb redis.UniversalClient) (*Decider, error) {
	decide, err := redisx.LoadScript(ctx, rdb, luaFiles, "lua/decide.lua")
	if err != nil {
		return nil, err
	}
	restore, err := redisx.LoadScript(ctx, rdb, luaFiles, "lua/restore.lua")
	if err != nil {
		return nil, err
	}
	return &Decider{rdb: rdb, decide: decide, restore: restore}, nil
}

// Decide decides apps of one event in order with one Lua call. It returns
// decision.ErrNeedsRebuild when Redis has no counters for the event.
func (d *Decider) Decide(ctx context.Context, eventID string, apps []decision.Application, now time.Time) ([]decision.Decision, error) {
	k := redisx.KeysFor(eventID)
	args := make([]any, 0, len(apps)+1)
	args = append(args, now.UnixMilli())
	for _, a := range apps {
		args = append(args, a.Email)
	}
	keys := []string{k.State, k.Remaining, k.Winners, k.Losers, k.Decisions, k.SoldOut, k.Applied, k.Unsettled, k.DecidedAt}
	res, err := d.decide.Run(ctx, d.rdb, keys, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("decide %d applications of %s: %w", len(apps), eventID, classify(err))
	}
	if len(res) == 1 && res[0] == "REBUILD" {
		return nil, decision.ErrNeedsRebuild
	}
	if len(res) != len(apps) {
		return nil, fmt.Errorf("decide %s: %d results for %d applications", eventID, len(res), len(apps))
	}
	out := make([]decision.Decision, len(apps))
	for i, r := range res {
		flag, stored, _ := strings.Cut(r, "|")
		st, rank, err := decision.ParseStored(stored)
		if err != nil {
			return nil, fmt.Errorf("decide %s: %w", eventID, err)
		}
		out[i] = decision.Decision{Application: apps[i], Status: st, Rank: rank, New: flag == "N", DecidedAt: now}
	}
	return out, nil
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

// RestoreCounters sets the event's counters and marks its state loaded,
// unless another process did it first. It reports whether this call did.
func (d *Decider) RestoreCounters(ctx context.Context, eventID string, s decision.EventSettings, winners, losers int64) (bool, error) {
	k := redisx.KeysFor(eventID)
	keys := []string{k.Total, k.Remaining, k.Winners, k.Losers, k.SoldOut, k.Window, k.State, k.StockVersion}
	n, err := d.restore.Run(ctx, d.rdb, keys, s.TotalStock, winners, losers, unixMs(s.OpensAt), unixMs(s.ClosesAt),
		s.StockVersion, s.WindowVersion).Int()
	if err != nil {
		return false, fmt.Errorf("restore counters of %s: %w", eventID, classify(err))
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

// NeedsRestore reports whether Redis lacks the event's state.
func (d *Decider) NeedsRestore(ctx context.Context, eventID string) (bool, error) {
	n, err := d.rdb.Exists(ctx, redisx.KeysFor(eventID).State).Result()
	if err != nil {
		return false, fmt.Errorf("check counters of %s: %w", eventID, classify(err))
	}
	return n == 0, nil
}

// Stranded returns up to limit admissions that were never settled and are
// older than cutoff: their gateway crashed between admission and publish.
func (d *Decider) Stranded(ctx context.Context, eventID string, cutoff time.Time, limit int) ([]decision.Application, error) {
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
			EventID: eventID, Email: email, ApplicationID: "stranded", AppliedAt: time.UnixMilli(int64(z.Score)),
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
