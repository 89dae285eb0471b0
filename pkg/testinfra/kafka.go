package testinfra

import (
	"testing"

	"github.com/IBM/sarama"
)

// KafkaBrokers returns the brokers of the running local Kafka. Kafka needs a
// fixed advertised address, so it is not started in a container here.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
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
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatalf("kafka admin: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	name := UniqueName(prefix)
	if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	t.Cleanup(func() { _ = admin.DeleteTopic(name) })
	return name
}
