//go:build !fuzzing

package consumer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
)

// TestAdminChangesMySQLRefusesDoNotStopThePartition: admin changes that
// decode but that MySQL refuses every time (an event id longer than its
// VARCHAR(64) column, a window beyond DATETIME's year 9999) are retried a
// few times, isolated from the good changes around them and dead-lettered
// with MySQL's reason; the good changes behind them are persisted.
func TestAdminChangesMySQLRefusesDoNotStopThePartition(t *testing.T) {
	e := newEnv(t)
	e.setStock(1)
	dlq := kafka.DeadLetter(e.admTopic)
	testinfra.CreateKafkaTopic(t, e.brokers, dlq, 1)
	testinfra.CreateKafkaTopic(t, e.brokers, kafka.DeadLetter(e.appsTopic), 1)
	ctx := e.runGroup(testinfra.UniqueName("g-"), e.handler)

	encode := func(m *farewellv1.EventAdminChanged) []byte {
		m.SchemaVersion = 1
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	stock := func(event string, total, version int64) []byte {
		return encode(&farewellv1.EventAdminChanged{EventId: event,
			Change: &farewellv1.EventAdminChanged_StockSet{StockSet: &farewellv1.StockSet{TotalStock: total, Version: version}}})
	}
	longID := e.eventID + "-" + strings.Repeat("x", 70)
	year10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	values := []struct {
		key   string
		value []byte
	}{
		{e.eventID, stock(e.eventID, 2, 1)},
		{"too-long", stock(longID, 5, 1)},
		{e.eventID, encode(&farewellv1.EventAdminChanged{EventId: e.eventID,
			Change: &farewellv1.EventAdminChanged_WindowSet{WindowSet: &farewellv1.WindowSet{OpensAtUnixMs: 1_900_000_000_000, ClosesAtUnixMs: year10000, Version: 1}}})},
		{e.eventID, stock(e.eventID, 3, 2)},
	}
	for _, v := range values {
		if err := e.producer.Publish(ctx, kafka.Message{Topic: e.admTopic, Key: v.key, Value: v.value}); err != nil {
			t.Fatal(err)
		}
	}
	dead := testinfra.ReadMessages(t, e.brokers, dlq, 2)
	for i, want := range []int{1, 2} {
		if string(dead[i].Value) != string(values[want].value) {
			t.Fatalf("dead letter %d is not message %d", i, want)
		}
		if r := testinfra.Header(dead[i], kafka.HeaderDLQReason); r == "" {
			t.Fatalf("dead letter %d has no reason", i)
		}
		if a := testinfra.Header(dead[i], kafka.HeaderDLQAttempts); a == "" || a == "1" {
			t.Fatalf("dead letter %d: attempts %q, want the bounded retries", i, a)
		}
	}
	if r := testinfra.Header(dead[0], kafka.HeaderDLQReason); !strings.Contains(r, "1406") && !strings.Contains(strings.ToLower(r), "too long") {
		t.Fatalf("reason %q, want MySQL's refusal", r)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		snap, err := e.repo.Snapshot(context.Background(), e.eventID)
		if err == nil && snap.Settings.TotalStock == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change behind the refused ones never reached MySQL: %+v, %v", snap.Settings, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
