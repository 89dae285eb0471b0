package testinfra

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// KafkaBrokers returns the brokers of the running local Kafka. Kafka needs a
// fixed advertised address, so it is not started in a container here.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	NeedsStack(t)
	addr := env("FAREWELL_TEST_KAFKA_BROKERS", defaultKafka)
	if !reachable(addr) {
		t.Fatalf("Kafka is not reachable at %s: start the local stack with `make run` (or `make test`)", addr)
	}
	return []string{addr}
}

// KafkaTopic creates a uniquely named topic with the given partitions and
// deletes it when the test ends.
func KafkaTopic(t testing.TB, brokers []string, prefix string, partitions int32) string {
	t.Helper()
	name := UniqueName(prefix)
	CreateKafkaTopic(t, brokers, name, partitions)
	return name
}

// CreateKafkaTopic creates the topic name (a dead-letter topic named after
// another, say) and deletes it when the test ends.
func CreateKafkaTopic(t testing.TB, brokers []string, name string, partitions int32) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatalf("kafka admin: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	t.Cleanup(func() { _ = admin.DeleteTopic(name) })
}

// ReadMessages reads n messages from partition 0 of topic with a plain
// sarama consumer, independent of the code under test, failing after 30 s.
func ReadMessages(t testing.TB, brokers []string, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	var out []*sarama.ConsumerMessage
	consumePartition0(t, brokers, topic, func(msgs <-chan *sarama.ConsumerMessage) {
		timeout := time.After(30 * time.Second)
		for len(out) < n {
			select {
			case m := <-msgs:
				out = append(out, m)
			case <-timeout:
				t.Fatalf("read %d of %d messages from %s within 30s", len(out), n, topic)
			}
		}
	})
	return out
}

// ReadUntilIdle reads partition 0 of topic until no message arrives for idle.
func ReadUntilIdle(t testing.TB, brokers []string, topic string, idle time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	var out []*sarama.ConsumerMessage
	consumePartition0(t, brokers, topic, func(msgs <-chan *sarama.ConsumerMessage) {
		for {
			select {
			case m := <-msgs:
				out = append(out, m)
			case <-time.After(idle):
				return
			}
		}
	})
	return out
}

// Header returns the value of a record header, or "".
func Header(m *sarama.ConsumerMessage, key string) string {
	for _, h := range m.Headers {
		if h != nil && string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

func consumePartition0(t testing.TB, brokers []string, topic string, read func(<-chan *sarama.ConsumerMessage)) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	c, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatalf("kafka consumer: %v", err)
	}
	defer func() { _ = c.Close() }()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume %s: %v", topic, err)
	}
	defer func() { _ = pc.Close() }()
	read(pc.Messages())
}
