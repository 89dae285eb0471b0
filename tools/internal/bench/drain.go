package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
)

// DrainPath marks the scenario that bypasses HTTP: it writes applications
// straight to Kafka, faster than the consumer decides them, to measure how
// many decisions per second stock-consumer persists while it has a backlog.
// Through the gateway the herd sells out after a few thousand admissions, so
// it never builds one.
const DrainPath = "kafka:" + kafka.TopicApplications

// applicationSchemaVersion is the ApplicationSubmitted version the gateway writes.
const applicationSchemaVersion = 1

// topicPartitions is how many partitions topic has: with one, one
// stock-consumer decides and the others stand by.
func topicPartitions(ctx context.Context, brokers []string, topic string) (int, error) {
	admin, err := kafka.ConnectAdmin(ctx, brokers)
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	defer admin.Close()
	meta, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	if len(meta) != 1 || meta[0].Err != sarama.ErrNoError {
		return 0, fmt.Errorf("partitions of %s: topic not found", topic)
	}
	return len(meta[0].Partitions), nil
}

// publishApplications writes one ApplicationSubmitted per attempt (key: email,
// as the gateway does) and returns when the last was acknowledged, relative
// to the returned start.
func publishApplications(ctx context.Context, brokers []string, eventID string, attempts []Attempt) (time.Time, time.Duration, error) {
	prod, err := kafka.NewProducer(kafka.ProducerConfig{
		Brokers: brokers, ClientID: "farewell-bench", Linger: 5 * time.Millisecond, MaxBatch: 2000, Retries: 3,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		return time.Time{}, 0, err
	}
	defer prod.Close()
	msgs := make([]kafka.Message, len(attempts))
	now := time.Now().UnixMilli()
	for i, a := range attempts {
		v, err := proto.Marshal(&farewellv1.ApplicationSubmitted{
			SchemaVersion: applicationSchemaVersion, EventId: eventID, Email: a.Email,
			ApplicationId: fmt.Sprintf("bench-%d", i), AppliedAtUnixMs: now, GatewayInstance: "bench",
		})
		if err != nil {
			return time.Time{}, 0, err
		}
		msgs[i] = kafka.Message{Topic: kafka.TopicApplications, Key: a.Email, Value: v}
	}
	began := time.Now()
	// Chunks bound how many messages wait for their acknowledgement at
	// once; each chunk still travels in the producer's batches.
	const chunk = 5000
	for i := 0; i < len(msgs); i += chunk {
		if err := prod.PublishAll(ctx, msgs[i:min(i+chunk, len(msgs))]); err != nil {
			return began, time.Since(began), fmt.Errorf("publish applications: %w", err)
		}
	}
	return began, time.Since(began), nil
}
