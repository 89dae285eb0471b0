// Package kafkapub is apply-gateway's Kafka adapter: it encodes applications
// and admin changes as protobuf and waits for the broker's acknowledgement.
package kafkapub

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admin"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
)

// SchemaVersion is the version of the messages this gateway writes.
const SchemaVersion = 1

// Publisher is the part of the Kafka producer the broker needs.
type Publisher interface {
	Publish(ctx context.Context, m kafka.Message) error
	PublishAcked(ctx context.Context, m kafka.Message) (kafka.Ack, error)
}

// Broker publishes the gateway's messages.
type Broker struct {
	pub               Publisher
	eventID           string
	instance          string
	applicationsTopic string
	adminTopic        string
}

var (
	_ admission.Announcer = (*Broker)(nil)
	_ admin.Announcer     = (*Broker)(nil)
)

// deliveryOf is the delivery address to send, empty when it is the email.
func deliveryOf(a admission.Application) string {
	if a.Delivery == a.Email {
		return ""
	}
	return a.Delivery
}

// New returns a Broker for one event.
func New(pub Publisher, eventID, instance, applicationsTopic, adminTopic string) *Broker {
	return &Broker{pub: pub, eventID: eventID, instance: instance, applicationsTopic: applicationsTopic, adminTopic: adminTopic}
}

// Announce publishes an admitted application (key: email) and returns the
// partition and offset the broker stored it at.
func (b *Broker) Announce(ctx context.Context, a admission.Application) (admission.Place, error) {
	v, err := proto.Marshal(&farewellv1.ApplicationSubmitted{
		SchemaVersion: SchemaVersion, EventId: a.EventID, Email: a.Email, ApplicationId: a.ID,
		AppliedAtUnixMs: a.AppliedAt.UnixMilli(), GatewayInstance: b.instance, DeliveryEmail: deliveryOf(a),
	})
	if err != nil {
		return admission.Place{}, fmt.Errorf("encode application: %w", err)
	}
	ack, err := b.pub.PublishAcked(ctx, kafka.Message{Topic: b.applicationsTopic, Key: a.Email, Value: v})
	if err != nil {
		return admission.Place{}, err
	}
	return admission.Place{Partition: ack.Partition, Offset: ack.Offset}, nil
}

// AnnounceStock publishes a stock change with its version (key: event id).
func (b *Broker) AnnounceStock(ctx context.Context, total, version int64) error {
	return b.publishAdmin(ctx, &farewellv1.EventAdminChanged{
		Change: &farewellv1.EventAdminChanged_StockSet{StockSet: &farewellv1.StockSet{TotalStock: total, Version: version}},
	})
}

// AnnounceWindow publishes a window change with its version (key: event id).
func (b *Broker) AnnounceWindow(ctx context.Context, opensAt, closesAt time.Time, version int64) error {
	return b.publishAdmin(ctx, &farewellv1.EventAdminChanged{
		Change: &farewellv1.EventAdminChanged_WindowSet{WindowSet: &farewellv1.WindowSet{
			OpensAtUnixMs: opensAt.UnixMilli(), ClosesAtUnixMs: closesAt.UnixMilli(), Version: version,
		}},
	})
}

func (b *Broker) publishAdmin(ctx context.Context, m *farewellv1.EventAdminChanged) error {
	m.SchemaVersion = SchemaVersion
	m.EventId = b.eventID
	m.ChangedAtUnixMs = time.Now().UnixMilli()
	v, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode admin change: %w", err)
	}
	return b.pub.Publish(ctx, kafka.Message{Topic: b.adminTopic, Key: b.eventID, Value: v})
}
