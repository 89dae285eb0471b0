//go:build !fuzzing

package consumer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
)

func dlqHeader(m *sarama.ConsumerMessage, key string) string {
	for _, h := range m.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestBadAdminMessagesGoToTheDeadLetterTopic runs the real consumer group on
// its own topics: malformed, unknown-version, change-less and negative-stock
// messages on the admin topic land in its dead-letter topic with their
// reason and source, byte for byte; the good admin change behind them still
// reaches MySQL, and applications are still decided afterwards.
func TestBadAdminMessagesGoToTheDeadLetterTopic(t *testing.T) {
	e := newEnv(t)
	e.setStock(1)
	dlq := kafka.DeadLetter(e.admTopic)
	testinfra.CreateKafkaTopic(t, e.brokers, dlq, 1)
	testinfra.CreateKafkaTopic(t, e.brokers, kafka.DeadLetter(e.appsTopic), 1)
	ctx := e.runGroup(testinfra.UniqueName("g-"), e.handler)

	admin := func(v uint32, event string, change any) []byte {
		m := &farewellv1.EventAdminChanged{SchemaVersion: v, EventId: event}
		switch c := change.(type) {
		case int64:
			m.Change = &farewellv1.EventAdminChanged_StockSet{StockSet: &farewellv1.StockSet{TotalStock: c}}
		}
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := []struct {
		key    string
		value  []byte
		reason string
	}{
		{"garbage", []byte("\xff\xfe not protobuf"), "undecodable admin change"},
		{"future", admin(2, e.eventID, int64(5)), "unsupported admin change (schema_version 2)"},
		{"unversioned", admin(0, e.eventID, int64(5)), "unsupported admin change (schema_version 0)"},
		{"no-change", admin(1, e.eventID, nil), "admin change without a known change"},
		{"negative", admin(1, e.eventID, int64(-3)), "negative total stock"},
	}
	for _, b := range bad {
		if err := e.producer.Publish(ctx, kafka.Message{Topic: e.admTopic, Key: b.key, Value: b.value}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.producer.Publish(ctx, kafka.Message{Topic: e.admTopic, Key: e.eventID, Value: admin(1, e.eventID, int64(2))}); err != nil {
		t.Fatal(err)
	}

	dead := testinfra.ReadMessages(t, e.brokers, dlq, len(bad))
	for i, b := range bad {
		m := dead[i]
		if string(m.Key) != b.key || string(m.Value) != string(b.value) {
			t.Fatalf("dead letter %d = key %q, want %q with the original bytes", i, m.Key, b.key)
		}
		if r := dlqHeader(m, kafka.HeaderDLQReason); !strings.Contains(r, b.reason) {
			t.Fatalf("%s: reason %q, want it to contain %q", b.key, r, b.reason)
		}
		if src := dlqHeader(m, kafka.HeaderDLQTopic); src != e.admTopic {
			t.Fatalf("%s: source topic %q, want %q", b.key, src, e.admTopic)
		}
	}
	// The good change behind the poison was applied...
	deadline := time.Now().Add(30 * time.Second)
	for {
		snap, err := e.repo.Snapshot(context.Background(), e.eventID)
		if err == nil && snap.Settings.TotalStock == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the valid admin change never reached MySQL: %+v, %v", snap, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// ...and the consumer still decides applications.
	app := e.application("after-poison@example.com", 0)
	if err := e.producer.Publish(ctx, kafka.Message{Topic: e.appsTopic, Key: string(app.Key), Value: app.Value}); err != nil {
		t.Fatal(err)
	}
	decided := testinfra.ReadMessages(t, e.brokers, e.decTopic, 1)
	var d farewellv1.ApplicationDecided
	if err := proto.Unmarshal(decided[0].Value, &d); err != nil || d.GetEmail() != "after-poison@example.com" {
		t.Fatalf("decision after the poison = %v, %v", d.GetEmail(), err)
	}
}
