//go:build !fuzzing

package consumer_test

import (
	"context"
	"testing"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/redisx"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
)

func (e *env) stockChange(total, version, offset int64) *sarama.ConsumerMessage {
	v, err := proto.Marshal(&farewellv1.EventAdminChanged{SchemaVersion: 1, EventId: e.eventID,
		Change: &farewellv1.EventAdminChanged_StockSet{StockSet: &farewellv1.StockSet{TotalStock: total, Version: version}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return &sarama.ConsumerMessage{Topic: e.admTopic, Key: []byte(e.eventID), Value: v, Offset: offset}
}

func (e *env) windowChange(opens, closes, version, offset int64) *sarama.ConsumerMessage {
	v, err := proto.Marshal(&farewellv1.EventAdminChanged{SchemaVersion: 1, EventId: e.eventID,
		Change: &farewellv1.EventAdminChanged_WindowSet{WindowSet: &farewellv1.WindowSet{OpensAtUnixMs: opens, ClosesAtUnixMs: closes, Version: version}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return &sarama.ConsumerMessage{Topic: e.admTopic, Key: []byte(e.eventID), Value: v, Offset: offset}
}

// TestAdminChangesKeepTheNewestVersion: two gateways' stock changes may reach
// the admin topic in another order than Redis applied them. MySQL keeps the
// highest version, so it ends with Redis's total (see apply-gateway's
// TestTwoGatewaysChangingStockEndInOneOrder), and a rebuild continues the
// numbering from it.
func TestAdminChangesKeepTheNewestVersion(t *testing.T) {
	e := newEnv(t)
	e.setStock(1)
	ctx := context.Background()
	batch := []*sarama.ConsumerMessage{
		e.stockChange(30, 3, 0), e.stockChange(20, 2, 1), // v3 appended before v2
		e.windowChange(2_000_000_000_000, 2_000_000_100_000, 5, 2), e.windowChange(1_900_000_000_000, 1_900_000_100_000, 4, 3),
	}
	if _, err := e.handler.HandleBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// A replay of an old change later on changes nothing either.
	if _, err := e.handler.HandleBatch(ctx, []*sarama.ConsumerMessage{e.stockChange(10, 1, 4)}); err != nil {
		t.Fatal(err)
	}
	snap, err := e.repo.Snapshot(ctx, e.eventID)
	if err != nil {
		t.Fatal(err)
	}
	s := snap.Settings
	if s.TotalStock != 30 || s.StockVersion != 3 {
		t.Fatalf("MySQL stock %d (v%d), want 30 (v3)", s.TotalStock, s.StockVersion)
	}
	if s.OpensAt.UnixMilli() != 2_000_000_000_000 || s.WindowVersion != 5 {
		t.Fatalf("MySQL window opens %d (v%d), want the v5 window", s.OpensAt.UnixMilli(), s.WindowVersion)
	}
	// Redis lost the event: the rebuild restores the settings, and the
	// numbering resumes a gap above MySQL's versions (changes numbered
	// before the loss may still be on their way), never below.
	k := redisx.KeysFor(e.eventID)
	e.rdb.Del(ctx, k.Total, k.Remaining, k.Winners, k.Losers, k.Decisions, k.Applied, k.SoldOut, k.Window, k.State, k.Unsettled, k.StockVersion)
	if err := e.service.EnsureState(ctx, e.eventID); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.rdb.Get(ctx, k.StockVersion).Int64(); v != 1_000_003 {
		t.Fatalf("restored stock version %d, want 1000003", v)
	}
	if v, _ := e.rdb.HGet(ctx, k.Window, "version").Int64(); v != 1_000_005 {
		t.Fatalf("restored window version %d, want 1000005", v)
	}
	if v, _ := e.rdb.HGet(ctx, k.Window, "applied").Int64(); v != 5 {
		t.Fatalf("restored window holds change %d, want 5", v)
	}
	if v, _ := e.rdb.Get(ctx, k.Total).Int64(); v != 30 {
		t.Fatalf("restored total %d, want 30", v)
	}
}
