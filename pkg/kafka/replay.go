package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// HeaderReplayedFrom is set on a message re-published from a dead-letter
// topic: "<dead-letter topic>/<partition>/<offset>" of the copy it came from.
const HeaderReplayedFrom = "x-replayed-from"

// DeadLetterRecord is one message of a dead-letter topic, with what its
// headers say about the message it copies.
type DeadLetterRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   map[string]string

	Reason   string
	Attempts string
	FailedAt string
	// SourceTopic, SourcePartition and SourceOffset name the original
	// message; SourceTopic falls back to the dead-letter topic's name less
	// ".dlq" when the header is missing.
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
}

// Position is "<topic>/<partition>/<offset>" of the dead-letter copy.
func (d DeadLetterRecord) Position() string {
	return fmt.Sprintf("%s/%d/%d", d.Topic, d.Partition, d.Offset)
}

// Source is "<topic>/<partition>/<offset>" of the original message; two
// dead-letter copies of one message (a crash between the dead-letter
// publish and the offset commit) have the same Source.
func (d DeadLetterRecord) Source() string {
	return fmt.Sprintf("%s/%d/%d", d.SourceTopic, d.SourcePartition, d.SourceOffset)
}

// ReplayMessage is the message a replay publishes: the original topic, key
// and value, the original headers without the dead-letter ones, and
// HeaderReplayedFrom.
func (d DeadLetterRecord) ReplayMessage() Message {
	headers := map[string]string{}
	for k, v := range d.Headers {
		if !strings.HasPrefix(k, "x-dlq-") && k != HeaderReplayedFrom {
			headers[k] = v
		}
	}
	headers[HeaderReplayedFrom] = d.Position()
	return Message{Topic: d.SourceTopic, Key: string(d.Key), Value: d.Value, Headers: headers}
}

// ReadDeadLetters reads every message of a dead-letter topic, on every
// partition, from the oldest retained offset up to the high-water mark as
// it was when the call started, ordered by partition and offset.
func ReadDeadLetters(ctx context.Context, client sarama.Client, topic string) ([]DeadLetterRecord, error) {
	if !strings.HasSuffix(topic, ".dlq") {
		return nil, fmt.Errorf("%s is not a dead-letter topic (want a name ending in .dlq)", topic)
	}
	partitions, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	defer consumer.Close()
	var out []DeadLetterRecord
	for _, p := range partitions {
		recs, err := readPartition(ctx, client, consumer, topic, p)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

func readPartition(ctx context.Context, client sarama.Client, consumer sarama.Consumer, topic string, p int32) ([]DeadLetterRecord, error) {
	oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil {
		return nil, fmt.Errorf("read %s/%d: oldest offset: %w", topic, p, err)
	}
	hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return nil, fmt.Errorf("read %s/%d: high-water mark: %w", topic, p, err)
	}
	if hwm <= oldest {
		return nil, nil
	}
	pc, err := consumer.ConsumePartition(topic, p, oldest)
	if err != nil {
		return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
	}
	defer pc.Close()
	var out []DeadLetterRecord
	// A quiet broker sends nothing: give up when nothing arrived for a while
	// instead of waiting forever for an offset a compaction removed.
	idle := time.NewTimer(10 * time.Second)
	defer idle.Stop()
	for next := oldest; next < hwm; {
		select {
		case m := <-pc.Messages():
			next = m.Offset + 1
			out = append(out, decodeDeadLetter(m))
			idle.Reset(10 * time.Second)
		case err := <-pc.Errors():
			return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
		case <-idle.C:
			return nil, fmt.Errorf("read %s/%d: nothing arrived for 10s before offset %d (high-water mark %d)", topic, p, next, hwm)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

func decodeDeadLetter(m *sarama.ConsumerMessage) DeadLetterRecord {
	d := DeadLetterRecord{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp,
		Key: m.Key, Value: m.Value, Headers: map[string]string{},
		SourceTopic: strings.TrimSuffix(m.Topic, ".dlq"), SourcePartition: -1, SourceOffset: -1,
	}
	for _, h := range m.Headers {
		if h != nil {
			d.Headers[string(h.Key)] = string(h.Value)
		}
	}
	d.Reason = d.Headers[HeaderDLQReason]
	d.Attempts = d.Headers[HeaderDLQAttempts]
	d.FailedAt = d.Headers[HeaderDLQFailedAt]
	if t := d.Headers[HeaderDLQTopic]; t != "" {
		d.SourceTopic = t
	}
	if v, err := strconv.ParseInt(d.Headers[HeaderDLQPartition], 10, 32); err == nil {
		d.SourcePartition = int32(v)
	}
	if v, err := strconv.ParseInt(d.Headers[HeaderDLQOffset], 10, 64); err == nil {
		d.SourceOffset = v
	}
	return d
}

// ReplaySelection says which dead letters a replay re-publishes: All, or
// those whose key is in Keys or whose dead-letter offset is in Offsets.
type ReplaySelection struct {
	All     bool
	Keys    map[string]bool
	Offsets map[int64]bool
}

// Empty reports whether the selection selects nothing.
func (s ReplaySelection) Empty() bool { return !s.All && len(s.Keys) == 0 && len(s.Offsets) == 0 }

// Select returns the records s selects, each original message once, from
// its first copy: a message dead-lettered twice (a crash between the
// dead-letter publish and the offset commit: the copies share a Source), or
// dead-lettered again after a replay (the new copy's HeaderReplayedFrom
// names the older copy), is replayed once.
func (s ReplaySelection) Select(recs []DeadLetterRecord) []DeadLetterRecord {
	var out []DeadLetterRecord
	origin := map[string]string{} // copy position → the original message's identity
	seen := map[string]bool{}
	for _, d := range recs {
		id := d.Source()
		if d.SourceOffset < 0 {
			id = d.Position()
		}
		if from, ok := origin[d.Headers[HeaderReplayedFrom]]; ok {
			id = from
		}
		origin[d.Position()] = id
		if !s.All && !s.Keys[string(d.Key)] && !s.Offsets[d.Offset] {
			continue
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, d)
	}
	return out
}

// ErrNotDeadLetterSource says a dead letter names no topic to go back to.
var ErrNotDeadLetterSource = errors.New("dead letter without a source topic")

// Replay publishes each record's ReplayMessage, one at a time and in order,
// waiting for each acknowledgement; progress is called after each one. It
// stops at the first failure and returns how many were published.
func Replay(ctx context.Context, p *Producer, recs []DeadLetterRecord, progress func(done int, d DeadLetterRecord)) (int, error) {
	for i, d := range recs {
		if d.SourceTopic == "" || strings.HasSuffix(d.SourceTopic, ".dlq") {
			return i, fmt.Errorf("%s: %w", d.Position(), ErrNotDeadLetterSource)
		}
		if err := p.Publish(ctx, d.ReplayMessage()); err != nil {
			return i, fmt.Errorf("replay %s to %s: %w", d.Position(), d.SourceTopic, err)
		}
		if progress != nil {
			progress(i+1, d)
		}
	}
	return len(recs), nil
}
