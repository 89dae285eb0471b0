package consumer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
	"github.com/terning-farewell/farewell/services/notifier/internal/ports/consumer"
	"github.com/terning-farewell/farewell/services/notifier/internal/templates"
)

// memMarkers is an in-memory MarkerStore: the fuzz targets test decoding and
// the handler's decisions, not Redis.
type memMarkers struct{ state map[string]delivery.Claim }

func (m *memMarkers) Claim(_ context.Context, j delivery.Job) (delivery.Claim, error) {
	if c, ok := m.state[j.MarkerKey()]; ok {
		return c, nil
	}
	m.state[j.MarkerKey()] = delivery.InFlight
	return delivery.Claimed, nil
}

func (m *memMarkers) MarkSent(_ context.Context, j delivery.Job) error {
	m.state[j.MarkerKey()] = delivery.AlreadySent
	return nil
}

func (m *memMarkers) Release(_ context.Context, j delivery.Job) error {
	delete(m.state, j.MarkerKey())
	return nil
}

type memSender struct{ sent []delivery.Email }

func (s *memSender) Send(_ context.Context, m delivery.Email) error {
	s.sent = append(s.sent, m)
	return nil
}

var fuzzNow = time.UnixMilli(1_800_000_000_000)

// fuzzHandler wires a handler with in-memory markers and sender and the real
// templates.
func fuzzHandler(f *testing.F, codes bool) (func() (*consumer.Handler, *memSender), error) {
	renderer, err := templates.New()
	if err != nil {
		return nil, err
	}
	return func() (*consumer.Handler, *memSender) {
		metrics, err := delivery.NewMetrics(prometheus.NewRegistry())
		if err != nil {
			f.Fatal(err)
		}
		s := &memSender{}
		d := delivery.Deps{Sender: s, Markers: &memMarkers{state: map[string]delivery.Claim{}}, Renderer: renderer,
			Metrics: metrics, Log: slog.New(slog.DiscardHandler), Retry: delivery.DefaultRetry(1), Now: func(context.Context) (time.Time, error) { return fuzzNow, nil }}
		var h *consumer.Handler
		if codes {
			h, err = consumer.NewCodeHandler(d)
		} else {
			h, err = consumer.NewResultHandler(d, true)
		}
		if err != nil {
			f.Fatal(err)
		}
		return h, s
	}, nil
}

// checkOneMessage hands value to a fresh handler as a batch of one and
// checks the outcome: never an error (which would make the consumer retry
// the batch forever), and either exactly one email or no email; when the
// message is refused it is poison with a reason, bound for the dead-letter
// topic.
func checkOneMessage(t *testing.T, newHandler func() (*consumer.Handler, *memSender), topic string, value []byte) {
	h, sender := newHandler()
	msg := &sarama.ConsumerMessage{Topic: topic, Key: []byte("k"), Value: value}
	poison, err := h.HandleBatch(context.Background(), []*sarama.ConsumerMessage{msg})
	if err != nil {
		t.Fatalf("HandleBatch returned an error (the batch would be retried forever): %v", err)
	}
	switch {
	case len(poison) == 1:
		if poison[0].Msg != msg || strings.TrimSpace(poison[0].Reason) == "" {
			t.Fatalf("poison without its message or a reason: %+v", poison[0])
		}
		if len(sender.sent) != 0 {
			t.Fatal("a poisoned message also sent an email")
		}
	case len(poison) == 0:
		if len(sender.sent) > 1 {
			t.Fatalf("one message sent %d emails", len(sender.sent))
		}
		for _, m := range sender.sent {
			if m.To == "" || m.MessageID == "" || m.Subject == "" {
				t.Fatalf("email without recipient, id or subject: %+v", m)
			}
		}
	default:
		t.Fatalf("one message gave %d poison entries", len(poison))
	}
}

func mustMarshal(f *testing.F, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzCodeMessage feeds arbitrary bytes to the code-email handler as if they
// came from farewell.auth.codes.
func FuzzCodeMessage(f *testing.F) {
	good := &farewellv1.VerificationCodeRequested{SchemaVersion: 1, RequestId: "req-1", Email: "a@example.com",
		Code: "123456", RequestedAtUnixMs: fuzzNow.UnixMilli(), ExpiresAtUnixMs: fuzzNow.Add(5 * time.Minute).UnixMilli()}
	f.Add(mustMarshal(f, good))
	future := proto.Clone(good).(*farewellv1.VerificationCodeRequested)
	future.SchemaVersion = 2
	f.Add(mustMarshal(f, future))
	expired := proto.Clone(good).(*farewellv1.VerificationCodeRequested)
	expired.ExpiresAtUnixMs = fuzzNow.Add(-time.Second).UnixMilli()
	f.Add(mustMarshal(f, expired))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	newHandler, err := fuzzHandler(f, true)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		checkOneMessage(t, newHandler, "farewell.auth.codes", value)
	})
}

// FuzzDecisionMessage feeds arbitrary bytes to the result-email handler as
// if they came from farewell.event.decisions.
func FuzzDecisionMessage(f *testing.F) {
	win := &farewellv1.ApplicationDecided{SchemaVersion: 1, EventId: "final-gift", Email: "a@example.com",
		Status: farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS, Rank: 1, DecidedAtUnixMs: fuzzNow.UnixMilli(), ApplicationId: "app-1"}
	f.Add(mustMarshal(f, win))
	lose := proto.Clone(win).(*farewellv1.ApplicationDecided)
	lose.Status, lose.Rank = farewellv1.DecisionStatus_DECISION_STATUS_FAILURE, 0
	f.Add(mustMarshal(f, lose))
	noRank := proto.Clone(win).(*farewellv1.ApplicationDecided)
	noRank.Rank = 0
	f.Add(mustMarshal(f, noRank))
	f.Add([]byte("not protobuf at all"))
	newHandler, err := fuzzHandler(f, false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		checkOneMessage(t, newHandler, "farewell.event.decisions", value)
	})
}
