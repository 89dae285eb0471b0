// Package kafkapub is stock-consumer's Kafka adapter: it encodes decisions
// as protobuf and publishes them to the decisions topic (key: email),
// waiting for every acknowledgement.
package kafkapub

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
)

// SchemaVersion is the version of the messages stock-consumer writes.
const SchemaVersion = 1

// Publisher is the part of the Kafka producer the adapter needs.
type Publisher interface {
	PublishAll(ctx context.Context, msgs []kafka.Message) error
}

// Decisions publishes decisions to one topic.
type Decisions struct {
	pub   Publisher
	topic string
}

var _ decision.Announcer = (*Decisions)(nil)

// New returns a Decisions publishing to topic.
func New(pub Publisher, topic string) *Decisions { return &Decisions{pub: pub, topic: topic} }

// AnnounceDecisions encodes ds and publishes them in one go.
func (p *Decisions) AnnounceDecisions(ctx context.Context, ds []decision.Decision) error {
	msgs := make([]kafka.Message, 0, len(ds))
	for _, d := range ds {
		v, err := proto.Marshal(decisionMessage(d))
		if err != nil {
			return fmt.Errorf("encode decision: %w", err)
		}
		msgs = append(msgs, kafka.Message{Topic: p.topic, Key: d.Email, Value: v})
	}
	if err := p.pub.PublishAll(ctx, msgs); err != nil {
		// The broker did not acknowledge: it is down or has no leader.
		return fmt.Errorf("%w: %w", decision.ErrUnavailable, err)
	}
	return nil
}

func decisionMessage(d decision.Decision) *farewellv1.ApplicationDecided {
	st := farewellv1.DecisionStatus_DECISION_STATUS_FAILURE
	if d.Status == decision.Success {
		st = farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS
	}
	return &farewellv1.ApplicationDecided{
		SchemaVersion: SchemaVersion, EventId: d.EventID, Email: d.Email, Status: st, Rank: d.Rank,
		DecidedAtUnixMs: d.DecidedAt.UnixMilli(), ApplicationId: d.ApplicationID, DeliveryEmail: d.Delivery,
	}
}
