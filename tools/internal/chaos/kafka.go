package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/terning-farewell/farewell/pkg/kafka"
)

// groupTopics is what each consumer group of the stack consumes.
func (s *Stack) groupTopics() map[string][]string {
	return map[string][]string{
		envOr(s.Env, "FAREWELL_CONSUMER_GROUP", "farewell-stock-consumer"): {
			envOr(s.Env, "FAREWELL_APPLICATIONS_TOPIC", kafka.TopicApplications),
			envOr(s.Env, "FAREWELL_ADMIN_TOPIC", kafka.TopicAdmin),
		},
		envOr(s.Env, "FAREWELL_RESULTS_GROUP", "farewell-notifier-results"): {
			envOr(s.Env, "FAREWELL_DECISIONS_TOPIC", kafka.TopicDecisions),
		},
		envOr(s.Env, "FAREWELL_CODES_GROUP", "farewell-notifier-codes"): {
			envOr(s.Env, "FAREWELL_CODES_TOPIC", kafka.TopicAuthCodes),
		},
	}
}

// dlqTopics are the dead-letter topics of every consumed topic.
func (s *Stack) dlqTopics() []string {
	var out []string
	for _, topics := range s.groupTopics() {
		for _, t := range topics {
			out = append(out, kafka.DeadLetter(t))
		}
	}
	sort.Strings(out)
	return out
}

// newKafkaClient connects to the stack's brokers (every one of the
// topology: the client finds whichever is up).
func (s *Stack) newKafkaClient() (sarama.Client, error) {
	cfg := kafka.NewSaramaConfig("farewell-chaos")
	cfg.Metadata.Retry.Max = 1
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	return sarama.NewClient(s.Topology.KafkaAddrs(), cfg)
}

// Lag is how far a group is behind on one partition.
type Lag struct {
	Group     string
	Topic     string
	Partition int32
	Committed int64 // -1: the group never committed here
	HighWater int64
	Behind    int64
}

// Lags compares every group's committed offsets with the partitions'
// high-water marks. A partition a group never committed on counts from the
// oldest retained offset.
func (s *Stack) Lags(ctx context.Context) ([]Lag, error) {
	client, err := s.newKafkaClient()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	// Closing the admin would close the shared client twice; the client's
	// Close above is enough.
	var out []Lag
	groups := s.groupTopics()
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, group := range names {
		want := map[string][]int32{}
		for _, topic := range groups[group] {
			parts, err := client.Partitions(topic)
			if err != nil {
				return nil, fmt.Errorf("partitions of %s: %w", topic, err)
			}
			want[topic] = parts
		}
		resp, err := admin.ListConsumerGroupOffsets(group, want)
		if err != nil {
			return nil, fmt.Errorf("offsets of group %s: %w", group, err)
		}
		if resp.Err != sarama.ErrNoError {
			return nil, fmt.Errorf("offsets of group %s: %w", group, resp.Err)
		}
		for topic, parts := range want {
			for _, p := range parts {
				hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
				if err != nil {
					return nil, fmt.Errorf("high-water mark %s/%d: %w", topic, p, err)
				}
				committed := int64(-1)
				if b := resp.GetBlock(topic, p); b != nil && b.Err == sarama.ErrNoError {
					committed = b.Offset
				}
				from := committed
				if from < 0 {
					if from, err = client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
						return nil, fmt.Errorf("oldest offset %s/%d: %w", topic, p, err)
					}
				}
				out = append(out, Lag{Group: group, Topic: topic, Partition: p, Committed: committed, HighWater: hwm, Behind: max(hwm-from, 0)})
			}
		}
	}
	_ = ctx
	return out, nil
}

// behind returns the partitions with lag, formatted, and the total.
func behind(lags []Lag) (string, int64) {
	var parts []string
	var total int64
	for _, l := range lags {
		if l.Behind > 0 {
			total += l.Behind
			parts = append(parts, fmt.Sprintf("%s %s/%d committed %d of %d (lag %d)", l.Group, l.Topic, l.Partition, l.Committed, l.HighWater, l.Behind))
		}
	}
	return strings.Join(parts, "; "), total
}

// DLQMark is where each dead-letter partition ended when a scenario began.
type DLQMark map[string]map[int32]int64

// MarkDLQ records the dead-letter topics' high-water marks.
func (s *Stack) MarkDLQ() (DLQMark, error) {
	client, err := s.newKafkaClient()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	defer client.Close()
	mark := DLQMark{}
	for _, topic := range s.dlqTopics() {
		parts, err := client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", topic, err)
		}
		mark[topic] = map[int32]int64{}
		for _, p := range parts {
			hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("high-water mark %s/%d: %w", topic, p, err)
			}
			mark[topic][p] = hwm
		}
	}
	return mark, nil
}

// DeadLetter is one dead-lettered message.
type DeadLetter struct {
	Topic  string // the dead-letter topic
	Key    string
	Reason string
	Source string // topic/partition/offset it came from
}

// ReadDLQ returns every message dead-lettered since mark.
func (s *Stack) ReadDLQ(ctx context.Context, mark DLQMark) ([]DeadLetter, error) {
	client, err := s.newKafkaClient()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	var out []DeadLetter
	for topic, parts := range mark {
		for p, from := range parts {
			hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("high-water mark %s/%d: %w", topic, p, err)
			}
			if hwm <= from {
				continue
			}
			pc, err := consumer.ConsumePartition(topic, p, from)
			if err != nil {
				return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
			}
			timeout := time.After(10 * time.Second)
		read:
			for next := from; next < hwm; {
				select {
				case m := <-pc.Messages():
					next = m.Offset + 1
					d := DeadLetter{Topic: topic, Key: string(m.Key)}
					var src [3]string
					for _, h := range m.Headers {
						switch string(h.Key) {
						case kafka.HeaderDLQReason:
							d.Reason = string(h.Value)
						case kafka.HeaderDLQTopic:
							src[0] = string(h.Value)
						case kafka.HeaderDLQPartition:
							src[1] = string(h.Value)
						case kafka.HeaderDLQOffset:
							src[2] = string(h.Value)
						}
					}
					d.Source = strings.Join(src[:], "/")
					out = append(out, d)
				case err := <-pc.Errors():
					_ = pc.Close()
					return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
				case <-timeout:
					_ = pc.Close()
					return nil, fmt.Errorf("read %s/%d: timed out before offset %d", topic, p, hwm)
				case <-ctx.Done():
					_ = pc.Close()
					return nil, ctx.Err()
				}
				if next >= hwm {
					break read
				}
			}
			_ = pc.Close()
		}
	}
	return out, nil
}
