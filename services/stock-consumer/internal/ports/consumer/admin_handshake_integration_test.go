//go:build !fuzzing

package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/terning-farewell/farewell/pkg/redisx"
)

// liveChange writes stock and window changes to Redis the way apply-gateway
// does for changes it acknowledged.
func (e *env) liveChange(total, stockVersion, opensMs, windowVersion int64) {
	e.t.Helper()
	ctx := context.Background()
	k := redisx.KeysFor(e.eventID)
	if err := e.rdb.MSet(ctx, k.Total, total, k.Remaining, total, k.StockTotalVersion, stockVersion, k.StockVersion, stockVersion).Err(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.rdb.HSet(ctx, k.Window, "opens_at", opensMs, "closes_at", opensMs+1000, "applied", windowVersion, "version", windowVersion).Err(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) handleAdmin(msgs ...*sarama.ConsumerMessage) {
	e.t.Helper()
	if _, err := e.handler.HandleBatch(context.Background(), msgs); err != nil {
		e.t.Fatal(err)
	}
}

// expectSettings fails unless MySQL and Redis both hold this total and
// window (opens at opensMs) under these versions.
func (e *env) expectSettings(total, stockVersion, opensMs, windowVersion int64) {
	e.t.Helper()
	ctx := context.Background()
	snap, err := e.repo.Snapshot(ctx, e.eventID)
	if err != nil {
		e.t.Fatal(err)
	}
	s := snap.Settings
	if s.TotalStock != total || s.StockVersion != stockVersion || s.OpensAt.UnixMilli() != opensMs || s.WindowVersion != windowVersion {
		e.t.Fatalf("MySQL has total %d (v%d), window opening %d (v%d); want %d (v%d), %d (v%d)",
			s.TotalStock, s.StockVersion, s.OpensAt.UnixMilli(), s.WindowVersion, total, stockVersion, opensMs, windowVersion)
	}
	k := redisx.KeysFor(e.eventID)
	liveTotal, _ := e.rdb.Get(ctx, k.Total).Int64()
	remaining, _ := e.rdb.Get(ctx, k.Remaining).Int64()
	opens, _ := e.rdb.HGet(ctx, k.Window, "opens_at").Int64()
	if liveTotal != total || remaining != total || opens != opensMs {
		e.t.Fatalf("Redis has total %d remaining %d, window opening %d; MySQL has %d and %d", liveTotal, remaining, opens, total, opensMs)
	}
}

// TestRebuildBeforeTheAdminChangeIsPersistedKeepsIt: a gateway acknowledged
// a change, and Redis was rebuilt from MySQL before stock-consumer persisted
// it. Whether the rebuild read MySQL just before the persist (and finishes
// after it) or Redis lost the change altogether, Redis and MySQL end with
// the change.
func TestRebuildBeforeTheAdminChangeIsPersistedKeepsIt(t *testing.T) {
	e := newEnv(t)
	e.setStock(1)
	ctx := context.Background()
	k := redisx.KeysFor(e.eventID)
	const w1, w2, w3 = 2_000_000_000_000, 2_000_000_500_000, 2_000_001_000_000
	e.liveChange(10, 1, w1, 1)
	e.handleAdmin(e.stockChange(10, 1, 0), e.windowChange(w1, w1+1000, 1, 1))
	e.expectSettings(10, 1, w1, 1)

	// Stock v2 acknowledged and committed live by a gateway.
	e.liveChange(20, 2, w1, 1)
	// A rebuild reads MySQL (still v1) ...
	epoch, err := e.repo.FenceRebuild(ctx, e.eventID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := e.decider.BeginRebuild(ctx, e.eventID, epoch); err != nil || !ok {
		t.Fatalf("begin rebuild: %v %v", ok, err)
	}
	read, err := e.repo.Settings(ctx, e.eventID)
	if err != nil {
		t.Fatal(err)
	}
	// ... stock-consumer persists v2 meanwhile, and the rebuild finishes
	// with what it read.
	e.handleAdmin(e.stockChange(20, 2, 2))
	if ok, err := e.decider.RestoreCounters(ctx, e.eventID, read, 0, 0, epoch); err != nil || !ok {
		t.Fatalf("restore: %v %v", ok, err)
	}
	e.expectSettings(20, 2, w1, 1)

	// Stock v3 and window v2 acknowledged and applied live, then Redis lost
	// the event and was rebuilt from MySQL before their messages came.
	e.liveChange(30, 3, w2, 2)
	e.rdb.Del(ctx, k.Total, k.Remaining, k.Winners, k.Losers, k.SoldOut, k.Window, k.State, k.StockVersion, k.StockTotalVersion)
	if err := e.service.EnsureState(ctx, e.eventID); err != nil {
		t.Fatal(err)
	}
	e.handleAdmin(e.stockChange(30, 3, 3), e.windowChange(w2, w2+1000, 2, 4))
	e.expectSettings(30, 3, w2, 2)

	// Stock v4 acknowledged, but its commit never reached Redis (Redis was
	// unavailable right then): the pending entry is still there. The
	// message brings Redis up to it and settles the pending entry.
	e.rdb.Set(ctx, k.StockVersion, 4, 0)
	e.rdb.Set(ctx, k.StockPending, "4:40:30", time.Minute)
	e.rdb.HSet(ctx, k.Window, "version", 3, "applied", 3, "opens_at", w3, "closes_at", w3+1000)
	e.handleAdmin(e.stockChange(40, 4, 5), e.windowChange(w3, w3+1000, 3, 6))
	e.expectSettings(40, 4, w3, 3)
	if n, _ := e.rdb.Exists(ctx, k.StockPending).Result(); n != 0 {
		t.Fatal("the persisted change is still pending in Redis")
	}
}

// TestUndoneAdminChangesChangeNothing: a gateway's publish timed out, it
// undid the change (marking it undone, as settle_stock.lua and
// undo_window.lua do) and answered 503, and the broker delivered the
// message after all. stock-consumer skips it: MySQL and Redis keep the
// previous settings. A change it persisted is marked applied, so a late
// undo keeps it.
func TestUndoneAdminChangesChangeNothing(t *testing.T) {
	e := newEnv(t)
	e.setStock(1)
	ctx := context.Background()
	const w1 = 2_000_000_000_000
	e.liveChange(10, 1, w1, 1)
	e.handleAdmin(e.stockChange(10, 1, 0), e.windowChange(w1, w1+1000, 1, 1))
	e.rdb.Set(ctx, redisx.ChangeMark(e.eventID, "stock", 2), "undone", time.Hour)
	e.rdb.Set(ctx, redisx.ChangeMark(e.eventID, "window", 2), "undone", time.Hour)
	e.handleAdmin(e.stockChange(99, 2, 2), e.windowChange(w1+5000, w1+6000, 2, 3))
	e.expectSettings(10, 1, w1, 1)

	e.liveChange(11, 3, w1, 1)
	e.handleAdmin(e.stockChange(11, 3, 4))
	if m, _ := e.rdb.Get(ctx, redisx.ChangeMark(e.eventID, "stock", 3)).Result(); m != "applied" {
		t.Fatalf("persisted change marked %q, want applied", m)
	}
	if ttl, _ := e.rdb.PTTL(ctx, redisx.ChangeMark(e.eventID, "stock", 3)).Result(); ttl <= 0 {
		t.Fatalf("change mark without expiry (%v)", ttl)
	}
	e.expectSettings(11, 3, w1, 1)
}
