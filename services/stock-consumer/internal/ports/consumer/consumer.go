// Package consumer is stock-consumer's Kafka port: it decodes the
// applications and admin topics (protobuf), hands what it decoded to the
// decision service, and reports undecodable messages as poison for the
// dead-letter topic. Offsets are marked by pkg/kafka only after HandleBatch
// returned, so a crash at any point replays to the same outcome.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
)

// SchemaVersion is the newest message schema this consumer understands.
const SchemaVersion = 1

// Decisions is what the port calls: the decision service.
type Decisions interface {
	DecideApplications(ctx context.Context, apps []decision.Application) error
	SetStock(ctx context.Context, eventID string, total, version int64) error
	SetWindow(ctx context.Context, eventID string, opensAt, closesAt time.Time, version int64) error
}

var _ Decisions = (*decision.Service)(nil)

// Handler handles the applications and admin topics.
type Handler struct {
	decisions  Decisions
	adminTopic string
}

var (
	_ kafka.BatchHandler       = (*Handler)(nil)
	_ kafka.DeadLetterRecorder = (*Handler)(nil)
)

// NewHandler returns a handler; messages from adminTopic are admin changes,
// every other topic carries applications.
func NewHandler(d Decisions, adminTopic string) (*Handler, error) {
	if d == nil || adminTopic == "" {
		return nil, errors.New("consumer: decision service and admin topic are required")
	}
	return &Handler{decisions: d, adminTopic: adminTopic}, nil
}

// HandleBatch dispatches on the batch's topic (a batch comes from one
// partition). A failure of a server being down is marked for the group,
// which retries it without bound; any other failure is retried a few times
// and then isolated and dead-lettered (kafka.GroupConfig.MaxAttempts).
func (h *Handler) HandleBatch(ctx context.Context, msgs []*sarama.ConsumerMessage) ([]kafka.Poison, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var poison []kafka.Poison
	var err error
	if msgs[0].Topic == h.adminTopic {
		poison, err = h.handleAdmin(ctx, msgs)
	} else {
		poison, err = h.handleApplications(ctx, msgs)
	}
	if errors.Is(err, decision.ErrUnavailable) {
		return nil, kafka.Unavailable(err)
	}
	return poison, err
}

// RecordDeadLetters decides the dead-lettered applications that can still
// be read, so their participants do not stay PENDING. Such a message was
// isolated by the group because the servers refuse it the same way every
// time (MySQL refusing its application id or its time, say): it is decided
// again with those fields left out (no application id, applied now) but
// with its place in line, and a decision Redis already made for it at that
// place is the one persisted, logged as a late decision, so it ends
// SUCCESS or FAILURE like everyone else and the log still replays. A message
// that cannot be read (undecodable, a schema this consumer does not know)
// names nobody reliably: its participant stays PENDING until an operator
// replays it, after deploying a consumer that reads it (docs/operate.md).
// Admin changes are not recorded: they are in the dead-letter topic only.
func (h *Handler) RecordDeadLetters(ctx context.Context, poison []kafka.Poison) error {
	var apps []decision.Application
	for _, p := range poison {
		if p.Msg == nil || p.Msg.Topic == h.adminTopic {
			continue
		}
		a, err := decodeApplication(p.Msg.Value)
		if err != nil {
			continue
		}
		apps = append(apps, decision.Application{
			EventID: a.EventID, Email: a.Email, Delivery: a.Delivery, AppliedAt: time.Now(),
			Partition: p.Msg.Partition, Offset: p.Msg.Offset, Late: true,
		})
	}
	if len(apps) == 0 {
		return nil
	}
	err := h.decisions.DecideApplications(ctx, apps)
	if errors.Is(err, decision.ErrUnavailable) {
		return kafka.Unavailable(err)
	}
	if err != nil {
		return fmt.Errorf("decide %d dead-lettered applications: %w", len(apps), err)
	}
	return nil
}

func (h *Handler) handleApplications(ctx context.Context, msgs []*sarama.ConsumerMessage) ([]kafka.Poison, error) {
	apps := make([]decision.Application, 0, len(msgs))
	var poison []kafka.Poison
	for _, m := range msgs {
		a, err := decodeApplication(m.Value)
		if err != nil {
			poison = append(poison, kafka.Poison{Msg: m, Reason: err.Error(), Attempts: 1})
			continue
		}
		a.Partition, a.Offset = m.Partition, m.Offset
		apps = append(apps, a)
	}
	if err := h.decisions.DecideApplications(ctx, apps); err != nil {
		return nil, err
	}
	return poison, nil
}

func decodeApplication(b []byte) (decision.Application, error) {
	var m farewellv1.ApplicationSubmitted
	if err := proto.Unmarshal(b, &m); err != nil {
		return decision.Application{}, fmt.Errorf("undecodable application: %w", err)
	}
	switch {
	case m.GetSchemaVersion() == 0 || m.GetSchemaVersion() > SchemaVersion:
		return decision.Application{}, fmt.Errorf("unsupported schema_version %d", m.GetSchemaVersion())
	case m.GetEventId() == "" || len(m.GetEventId()) > 64:
		return decision.Application{}, errors.New("missing or oversized event_id")
	case m.GetEmail() == "" || len(m.GetEmail()) > 254:
		return decision.Application{}, errors.New("missing or oversized email")
	case len(m.GetDeliveryEmail()) > 254:
		return decision.Application{}, errors.New("oversized delivery_email")
	}
	return decision.Application{
		EventID: m.GetEventId(), Email: m.GetEmail(), Delivery: m.GetDeliveryEmail(), ApplicationID: m.GetApplicationId(),
		AppliedAt: time.UnixMilli(m.GetAppliedAtUnixMs()),
	}, nil
}

func (h *Handler) handleAdmin(ctx context.Context, msgs []*sarama.ConsumerMessage) ([]kafka.Poison, error) {
	var poison []kafka.Poison
	for _, m := range msgs {
		var ev farewellv1.EventAdminChanged
		if err := proto.Unmarshal(m.Value, &ev); err != nil {
			poison = append(poison, kafka.Poison{Msg: m, Reason: "undecodable admin change: " + err.Error(), Attempts: 1})
			continue
		}
		if ev.GetSchemaVersion() == 0 || ev.GetSchemaVersion() > SchemaVersion || ev.GetEventId() == "" {
			poison = append(poison, kafka.Poison{Msg: m, Reason: fmt.Sprintf("unsupported admin change (schema_version %d)", ev.GetSchemaVersion()), Attempts: 1})
			continue
		}
		var err error
		switch c := ev.GetChange().(type) {
		case *farewellv1.EventAdminChanged_StockSet:
			if c.StockSet.GetTotalStock() < 0 {
				poison = append(poison, kafka.Poison{Msg: m, Reason: "negative total stock", Attempts: 1})
				continue
			}
			err = h.decisions.SetStock(ctx, ev.GetEventId(), c.StockSet.GetTotalStock(), c.StockSet.GetVersion())
		case *farewellv1.EventAdminChanged_WindowSet:
			err = h.decisions.SetWindow(ctx, ev.GetEventId(), fromMs(c.WindowSet.GetOpensAtUnixMs()), fromMs(c.WindowSet.GetClosesAtUnixMs()), c.WindowSet.GetVersion())
		default:
			poison = append(poison, kafka.Poison{Msg: m, Reason: "admin change without a known change", Attempts: 1})
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return poison, nil
}

func fromMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
