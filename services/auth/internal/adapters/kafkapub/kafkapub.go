// Package kafkapub is auth's Kafka adapter: it encodes code requests as
// protobuf and publishes them, waiting for the broker's acknowledgement.
package kafkapub

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/auth/internal/verification"
)

// SchemaVersion is the version of the messages auth writes.
const SchemaVersion = 1

// Publisher is the part of the Kafka producer the adapter needs.
type Publisher interface {
	Publish(ctx context.Context, m kafka.Message) error
}

// Codes publishes code requests to one topic (key: email).
type Codes struct {
	pub   Publisher
	topic string
}

var _ verification.Announcer = (*Codes)(nil)

// New returns a Codes publishing to topic.
func New(pub Publisher, topic string) *Codes { return &Codes{pub: pub, topic: topic} }

// AnnounceCode encodes r and publishes it.
func (c *Codes) AnnounceCode(ctx context.Context, r verification.CodeRequest) error {
	value, err := proto.Marshal(&farewellv1.VerificationCodeRequested{
		SchemaVersion:     SchemaVersion,
		Email:             r.Email,
		Code:              r.Code,
		RequestedAtUnixMs: r.RequestedAt.UnixMilli(),
		ExpiresAtUnixMs:   r.ExpiresAt.UnixMilli(),
		RequestId:         r.RequestID,
	})
	if err != nil {
		return fmt.Errorf("encode code request: %w", err)
	}
	return c.pub.Publish(ctx, kafka.Message{Topic: c.topic, Key: r.Email, Value: value})
}
