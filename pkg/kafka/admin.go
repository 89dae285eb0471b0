package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// ConnectAdmin returns a cluster admin, retrying until the cluster answers
// or ctx ends: the broker may still be starting.
func ConnectAdmin(ctx context.Context, brokers []string) (sarama.ClusterAdmin, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = "farewell-topics"
	cfg.Version = sarama.V3_9_0_0
	cfg.Admin.Timeout = 10 * time.Second
	cfg.Net.DialTimeout = 3 * time.Second
	cfg.Metadata.Retry.Max = 1
	for {
		admin, err := sarama.NewClusterAdmin(brokers, cfg)
		if err == nil {
			return admin, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to %s: %w (last error: %v)", strings.Join(brokers, ","), ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

// TopicResult is what EnsureTopics did with one topic.
type TopicResult struct {
	Spec    TopicSpec
	Created bool
	// Line is a one-line report ("created  …" or "exists   …").
	Line string
}

// EnsureTopics creates every topic of specs that is missing, with the given
// replication factor, and reports each. Existing topics are left alone (a
// partition count that differs from the spec is reported, never changed:
// adding partitions would reshuffle keys).
func EnsureTopics(ctx context.Context, admin sarama.ClusterAdmin, specs []TopicSpec, replication int16) ([]TopicResult, error) {
	return EnsureReplicatedTopics(ctx, admin, specs, replication, 0)
}

// EnsureReplicatedTopics is EnsureTopics with min.insync.replicas set on
// every topic it creates (0 keeps the broker default). With the producers'
// acks=all, an acknowledged message is then on at least minInsync brokers,
// and a partition with fewer in-sync replicas refuses writes instead of
// acknowledging them on one copy.
func EnsureReplicatedTopics(ctx context.Context, admin sarama.ClusterAdmin, specs []TopicSpec, replication int16, minInsync int) ([]TopicResult, error) {
	out := make([]TopicResult, 0, len(specs))
	for _, spec := range specs {
		r, err := ensureTopic(ctx, admin, spec, replication, minInsync)
		if err != nil {
			return out, fmt.Errorf("topic %s: %w", spec.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// ensureTopic creates spec if it is missing. Transient controller errors (a
// freshly started KRaft node) are retried until ctx ends.
func ensureTopic(ctx context.Context, admin sarama.ClusterAdmin, spec TopicSpec, replication int16, minInsync int) (TopicResult, error) {
	detail := &sarama.TopicDetail{
		NumPartitions:     spec.Partitions,
		ReplicationFactor: replication,
		ConfigEntries:     map[string]*string{},
	}
	retention := "default"
	if spec.Retention > 0 {
		ms := strconv.FormatInt(spec.Retention.Milliseconds(), 10)
		detail.ConfigEntries["retention.ms"] = &ms
		retention = spec.Retention.String()
	}
	isr := ""
	if minInsync > 0 {
		v := strconv.Itoa(minInsync)
		detail.ConfigEntries["min.insync.replicas"] = &v
		isr = " min.insync.replicas=" + v
	}
	for {
		err := admin.CreateTopic(spec.Name, detail, false)
		switch {
		case err == nil:
			return TopicResult{Spec: spec, Created: true, Line: fmt.Sprintf("created  %-36s partitions=%d replication=%d retention=%s%s",
				spec.Name, spec.Partitions, replication, retention, isr)}, nil
		case errors.Is(err, sarama.ErrTopicAlreadyExists):
			line, err := describeExisting(admin, spec)
			return TopicResult{Spec: spec, Line: line}, err
		case !retriable(err):
			return TopicResult{}, err
		}
		select {
		case <-ctx.Done():
			return TopicResult{}, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func retriable(err error) bool {
	return errors.Is(err, sarama.ErrNotController) ||
		errors.Is(err, sarama.ErrRequestTimedOut) ||
		errors.Is(err, sarama.ErrLeaderNotAvailable) ||
		errors.Is(err, sarama.ErrBrokerNotAvailable) ||
		errors.Is(err, sarama.ErrOutOfBrokers) ||
		errors.Is(err, sarama.ErrInvalidReplicationFactor) || // brokers not yet registered
		errors.Is(err, sarama.ErrNotEnoughReplicas) ||
		errors.Is(err, sarama.ErrClosedClient)
}

// describeExisting reports an existing topic and notes when it differs from
// the spec.
func describeExisting(admin sarama.ClusterAdmin, spec TopicSpec) (string, error) {
	metas, err := admin.DescribeTopics([]string{spec.Name})
	if err != nil {
		return "", fmt.Errorf("describe: %w", err)
	}
	if len(metas) != 1 || !errors.Is(metas[0].Err, sarama.ErrNoError) {
		return fmt.Sprintf("exists   %-36s (could not describe)", spec.Name), nil
	}
	got := int32(len(metas[0].Partitions))
	line := fmt.Sprintf("exists   %-36s partitions=%d", spec.Name, got)
	if len(metas[0].Partitions) > 0 {
		line += fmt.Sprintf(" replication=%d", len(metas[0].Partitions[0].Replicas))
	}
	if got != spec.Partitions {
		line += fmt.Sprintf(" (spec wants %d; left unchanged)", spec.Partitions)
	}
	return line, nil
}

// ListTopics prints every topic in the cluster, sorted, with its partition
// count and replication factor.
func ListTopics(admin sarama.ClusterAdmin, out io.Writer) error {
	topics, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	names := make([]string, 0, len(topics))
	for name := range topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(out, "%-36s partitions=%d replication=%d\n",
			name, topics[name].NumPartitions, topics[name].ReplicationFactor)
	}
	return nil
}
