package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

// recorder fails its first batch (a temporary error), marks messages whose
// value is "poison" as poison, and records everything else.
type recorder struct {
	mu       sync.Mutex
	failOnce bool
	seen     []string
	calls    int
}

func (r *recorder) HandleBatch(_ context.Context, msgs []*sarama.ConsumerMessage) ([]kafka.Poison, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failOnce {
		r.failOnce = false
		return nil, errors.New("temporary failure")
	}
	var poison []kafka.Poison
	for _, m := range msgs {
		if string(m.Value) == "poison" {
			poison = append(poison, kafka.Poison{Msg: m, Reason: "cannot decode", Attempts: 1})
			continue
		}
		r.seen = append(r.seen, string(m.Value))
	}
	return poison, nil
}

func (r *recorder) values() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func TestProduceConsumeRetryAndDeadLetter(t *testing.T) {
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.KafkaTopic(t, brokers, "t-pkg-", 1)
	dlq := kafka.DeadLetter(topic)
	testinfra.CreateKafkaTopic(t, brokers, dlq, 1)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: brokers, ClientID: "t", Linger: 2 * time.Millisecond, MaxBatch: 100, Retries: 3}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var msgs []kafka.Message
	for i := 0; i < 50; i++ {
		msgs = append(msgs, kafka.Message{Topic: topic, Key: "k", Value: []byte(fmt.Sprintf("m%02d", i))})
	}
	msgs[10].Value = []byte("poison")
	msgs[10].Headers = map[string]string{"origin": "test"}
	// All share the key, so one partition keeps their order; they still go in
	// batches and each caller waits only for its own ack.
	for _, m := range msgs {
		if err := p.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.PublishAll(ctx, []kafka.Message{{Topic: topic, Key: "k", Value: []byte("m50")}, {Topic: topic, Key: "k", Value: []byte("m51")}}); err != nil {
		t.Fatal(err)
	}

	rec := &recorder{failOnce: true}
	g, err := kafka.NewGroup(kafka.GroupConfig{Brokers: brokers, GroupID: testinfra.UniqueName("g-"), ClientID: "t",
		Topics: []string{topic}, MaxBatch: 20, RetryBackoff: 50 * time.Millisecond}, rec, p, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	deadline := time.Now().Add(30 * time.Second)
	for len(rec.values()) < 51 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("group run: %v", err)
	}
	got := rec.values()
	if len(got) != 51 {
		t.Fatalf("handled %d messages, want 51 (the failed batch must be retried, not skipped)", len(got))
	}
	// Published one by one, m00..m49 (without the poison m10) keep their order;
	// m50 and m51 went together through PublishAll, in either order.
	for i, v := range got[:49] {
		want := fmt.Sprintf("m%02d", i)
		if i >= 10 {
			want = fmt.Sprintf("m%02d", i+1)
		}
		if v != want {
			t.Fatalf("message %d = %s, want %s (order lost)", i, v, want)
		}
	}
	if tail := got[49] + got[50]; tail != "m50m51" && tail != "m51m50" {
		t.Fatalf("last two = %s, %s; want m50 and m51", got[49], got[50])
	}

	// The poison message is in the DLQ with its reason, origin headers kept.
	c, err := sarama.NewConsumer(brokers, kafka.NewSaramaConfig("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(dlq, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		h := map[string]string{}
		for _, x := range m.Headers {
			h[string(x.Key)] = string(x.Value)
		}
		if string(m.Value) != "poison" || h[kafka.HeaderDLQReason] != "cannot decode" || h[kafka.HeaderDLQTopic] != topic || h["origin"] != "test" {
			t.Fatalf("dead letter %q headers %v", m.Value, h)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("nothing in the dead-letter topic")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctx, msgs[0]); !errors.Is(err, kafka.ErrProducerClosed) {
		t.Fatalf("publish after close = %v", err)
	}
}

func TestPublishToMissingTopicFails(t *testing.T) {
	brokers := testinfra.KafkaBrokers(t)
	p, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: brokers, ClientID: "t", Linger: time.Millisecond, Retries: 1},
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Publish(ctx, kafka.Message{Topic: testinfra.UniqueName("t-missing-"), Value: []byte("x")}); err == nil {
		t.Fatal("publish to a topic that does not exist reported success")
	}
}
