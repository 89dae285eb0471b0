package kafka

import "time"

// Topic names shared by every service. They are part of the wire contract
// described in docs/design.md, so they live here and nowhere else.
const (
	TopicApplications = "farewell.event.applications"
	TopicDecisions    = "farewell.event.decisions"
	TopicAuthCodes    = "farewell.auth.codes"
	TopicAdmin        = "farewell.event.admin"
)

// DeadLetter returns the dead-letter topic that belongs to topic.
func DeadLetter(topic string) string { return topic + ".dlq" }

// TopicSpec describes how a topic is created.
type TopicSpec struct {
	Name       string
	Partitions int32
	// Retention is the log retention; zero keeps the broker default.
	Retention time.Duration
}

// notifierPartitions is the partition count of the topics the notifier reads.
const notifierPartitions = 6

// Topics returns every topic Farewell needs, with the applications topic
// created with applicationPartitions partitions (1 keeps global arrival order).
func Topics(applicationPartitions int32) []TopicSpec {
	if applicationPartitions < 1 {
		applicationPartitions = 1
	}
	week := 7 * 24 * time.Hour
	specs := []TopicSpec{
		{Name: TopicApplications, Partitions: applicationPartitions, Retention: week},
		// The notifier's topics: 6 partitions split evenly over 1, 2 or 3
		// notifiers (with 3 and two notifiers, one sent two thirds).
		{Name: TopicDecisions, Partitions: notifierPartitions, Retention: week},
		// Code requests carry a one-time code: keep them only briefly.
		{Name: TopicAuthCodes, Partitions: notifierPartitions, Retention: time.Hour},
		{Name: TopicAdmin, Partitions: 1, Retention: 30 * 24 * time.Hour},
	}
	for _, s := range specs[:] {
		specs = append(specs, TopicSpec{Name: DeadLetter(s.Name), Partitions: 1, Retention: s.Retention})
	}
	return specs
}
