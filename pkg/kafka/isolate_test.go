package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

// picky refuses every batch that holds the value "bad" (as a database
// refuses a value), and fails the first downAttempts batches as a server
// that is down; it records what it handled.
type picky struct {
	mu           sync.Mutex
	downAttempts int
	seen         []string
}

func (p *picky) HandleBatch(_ context.Context, msgs []*sarama.ConsumerMessage) ([]kafka.Poison, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.downAttempts > 0 {
		p.downAttempts--
		return nil, kafka.Unavailable(errors.New("connection refused"))
	}
	for _, m := range msgs {
		if string(m.Value) == "bad" {
			return nil, fmt.Errorf("Error 1406 (22001): Data too long for column at offset %d", m.Offset)
		}
	}
	for _, m := range msgs {
		p.seen = append(p.seen, string(m.Value))
	}
	return nil, nil
}

func (p *picky) values() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// TestRepeatedFailureIsIsolatedAndDeadLettered: a batch that fails the same
// way every time does not stop its partition. After MaxAttempts the batch is
// retried in halves until the one message is found; it is dead-lettered
// with the error as its reason and every other message is handled, in
// order. A server being down is retried past MaxAttempts without dropping
// anything. Lag and failed attempts are measured while the batch fails.
func TestRepeatedFailureIsIsolatedAndDeadLettered(t *testing.T) {
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.KafkaTopic(t, brokers, "t-iso-", 1)
	dlq := kafka.DeadLetter(topic)
	testinfra.CreateKafkaTopic(t, brokers, dlq, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: brokers, ClientID: "t", Linger: 2 * time.Millisecond, MaxBatch: 100, Retries: 3}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx := context.Background()
	var msgs []kafka.Message
	for i := 0; i < 30; i++ {
		v := fmt.Sprintf("m%02d", i)
		if i == 17 {
			v = "bad"
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: "k", Value: []byte(v)})
	}
	for _, m := range msgs {
		if err := p.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	h := &picky{downAttempts: 5}
	reg := prometheus.NewRegistry()
	g, err := kafka.NewGroup(kafka.GroupConfig{Brokers: brokers, GroupID: testinfra.UniqueName("g-"), ClientID: "t",
		Topics: []string{topic}, MaxBatch: 100, RetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond,
		MaxAttempts: 3}, h, p, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("group run: %v", err)
		}
	}()

	dead := testinfra.ReadMessages(t, brokers, dlq, 1)
	if string(dead[0].Value) != "bad" {
		t.Fatalf("dead letter %q, want the bad message", dead[0].Value)
	}
	if r := testinfra.Header(dead[0], kafka.HeaderDLQReason); !strings.Contains(r, "Data too long") {
		t.Fatalf("reason %q, want the handler's error", r)
	}
	if a := testinfra.Header(dead[0], kafka.HeaderDLQAttempts); a != "3" {
		t.Fatalf("attempts header %q, want 3", a)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(h.values()) < 29 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := h.values()
	if len(got) != 29 {
		t.Fatalf("handled %d messages, want the 29 good ones", len(got))
	}
	for i, v := range got {
		want := i
		if i >= 17 {
			want = i + 1
		}
		if v != fmt.Sprintf("m%02d", want) {
			t.Fatalf("message %d = %s (order lost: %v)", i, v, got)
		}
	}
	if n := testinfra.MetricValue(t, reg, "farewell_kafka_batch_failures_total", map[string]string{"reason": "unavailable"}); n != 5 {
		t.Fatalf("unavailable failures = %v, want 5 (all retried)", n)
	}
	if n := testinfra.MetricValue(t, reg, "farewell_kafka_batch_failures_total", map[string]string{"reason": "rejected"}); n < 3 {
		t.Fatalf("rejected failures = %v, want at least MaxAttempts", n)
	}
	deadline = time.Now().Add(5 * time.Second)
	for testinfra.MetricValue(t, reg, "farewell_kafka_consumer_position", map[string]string{"partition": "0"}) != 30 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pos := testinfra.MetricValue(t, reg, "farewell_kafka_consumer_position", map[string]string{"partition": "0"}); pos != 30 {
		t.Fatalf("position %v, want 30", pos)
	}
	if lag := testinfra.MetricValue(t, reg, "farewell_kafka_consumer_lag", map[string]string{"partition": "0"}); lag != 0 {
		t.Fatalf("lag %v after the partition caught up", lag)
	}
}

// TestLagIsMeasuredWhileABatchFails: while a batch keeps failing (a server
// down), the lag shows the messages waiting and the position stays put.
func TestLagIsMeasuredWhileABatchFails(t *testing.T) {
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.KafkaTopic(t, brokers, "t-lag-", 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: brokers, ClientID: "t", Linger: 2 * time.Millisecond, MaxBatch: 100, Retries: 3}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := p.Publish(ctx, kafka.Message{Topic: topic, Key: "k", Value: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	h := &picky{downAttempts: 1 << 30}
	reg := prometheus.NewRegistry()
	g, err := kafka.NewGroup(kafka.GroupConfig{Brokers: brokers, GroupID: testinfra.UniqueName("g-"), ClientID: "t",
		Topics: []string{topic}, MaxBatch: 100, RetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond,
		MaxAttempts: 3}, h, p, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("group run: %v", err)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for testinfra.MetricValue(t, reg, "farewell_kafka_batch_failures_total", map[string]string{"reason": "unavailable"}) < 10 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if lag := testinfra.MetricValue(t, reg, "farewell_kafka_consumer_lag", map[string]string{"partition": "0"}); lag != 10 {
		t.Fatalf("lag %v while the batch fails, want 10", lag)
	}
	if pos := testinfra.MetricValue(t, reg, "farewell_kafka_consumer_position", map[string]string{"partition": "0"}); pos != 0 {
		t.Fatalf("position %v, want 0 (nothing handled)", pos)
	}
	if len(h.values()) != 0 {
		t.Fatal("a failing batch was handled")
	}
}
