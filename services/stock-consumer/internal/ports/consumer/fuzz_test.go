package consumer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
)

func mustMarshal(f *testing.F, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzDecodeApplication: whatever bytes arrive on the applications topic,
// decodeApplication never panics, and what it accepts is within the limits
// the decision step relies on; what it refuses carries a reason for the
// dead-letter topic.
func FuzzDecodeApplication(f *testing.F) {
	f.Add(mustMarshal(f, &farewellv1.ApplicationSubmitted{SchemaVersion: 1, EventId: "final-gift", Email: "a@example.com",
		ApplicationId: "app-1", AppliedAtUnixMs: 1_800_000_000_000}))
	f.Add(mustMarshal(f, &farewellv1.ApplicationSubmitted{SchemaVersion: 9, EventId: "final-gift", Email: "a@example.com"}))
	f.Add(mustMarshal(f, &farewellv1.ApplicationSubmitted{SchemaVersion: 1, Email: "a@example.com"}))
	f.Add(mustMarshal(f, &farewellv1.ApplicationSubmitted{SchemaVersion: 1, EventId: strings.Repeat("e", 65), Email: "a@example.com"}))
	f.Add([]byte("not protobuf at all"))
	f.Add([]byte{0xff, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeApplication(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("refusal without a reason")
			}
			return
		}
		if a.EventID == "" || len(a.EventID) > 64 || a.Email == "" || len(a.Email) > 254 {
			t.Fatalf("accepted an application outside the limits: %+v", a)
		}
		var m farewellv1.ApplicationSubmitted
		if proto.Unmarshal(b, &m) != nil || m.GetSchemaVersion() != SchemaVersion {
			t.Fatalf("accepted bytes that are not a version-%d application", SchemaVersion)
		}
	})
}

// recordingDecisions is a Decisions that only records admin changes.
type recordingDecisions struct{ stock, windows int }

func (r *recordingDecisions) DecideApplications(context.Context, []decision.Application) error {
	return errors.New("the admin topic must not decide applications")
}
func (r *recordingDecisions) SetStock(_ context.Context, _ string, total, _ int64) error {
	if total < 0 {
		return errors.New("negative stock reached the repository")
	}
	r.stock++
	return nil
}
func (r *recordingDecisions) SetWindow(context.Context, string, time.Time, time.Time, int64) error {
	r.windows++
	return nil
}

// FuzzAdminMessage: arbitrary bytes on farewell.event.admin go through the
// real HandleBatch. It never panics and never fails the batch (a failed
// batch is retried forever); every message either reaches the repository as
// exactly one change or is poison with a reason, bound for the dead-letter
// topic.
func FuzzAdminMessage(f *testing.F) {
	f.Add(mustMarshal(f, &farewellv1.EventAdminChanged{SchemaVersion: 1, EventId: "final-gift",
		Change: &farewellv1.EventAdminChanged_StockSet{StockSet: &farewellv1.StockSet{TotalStock: 100}}}))
	f.Add(mustMarshal(f, &farewellv1.EventAdminChanged{SchemaVersion: 1, EventId: "final-gift",
		Change: &farewellv1.EventAdminChanged_WindowSet{WindowSet: &farewellv1.WindowSet{OpensAtUnixMs: 1_800_000_000_000, ClosesAtUnixMs: 1_800_000_600_000}}}))
	f.Add(mustMarshal(f, &farewellv1.EventAdminChanged{SchemaVersion: 1, EventId: "final-gift",
		Change: &farewellv1.EventAdminChanged_StockSet{StockSet: &farewellv1.StockSet{TotalStock: -1}}}))
	f.Add(mustMarshal(f, &farewellv1.EventAdminChanged{SchemaVersion: 2, EventId: "final-gift",
		Change: &farewellv1.EventAdminChanged_StockSet{StockSet: &farewellv1.StockSet{TotalStock: 1}}}))
	f.Add(mustMarshal(f, &farewellv1.EventAdminChanged{SchemaVersion: 1, EventId: "final-gift"}))
	f.Add([]byte("not protobuf at all"))
	f.Fuzz(func(t *testing.T, value []byte) {
		repo := &recordingDecisions{}
		h, err := NewHandler(repo, "adm")
		if err != nil {
			t.Fatal(err)
		}
		msg := &sarama.ConsumerMessage{Topic: "adm", Key: []byte("final-gift"), Value: value}
		poison, err := h.HandleBatch(context.Background(), []*sarama.ConsumerMessage{msg})
		if err != nil {
			t.Fatalf("HandleBatch failed the batch (it would be retried forever): %v", err)
		}
		applied := repo.stock + repo.windows
		switch {
		case len(poison) == 1 && applied == 0:
			if poison[0].Msg != msg || strings.TrimSpace(poison[0].Reason) == "" {
				t.Fatalf("poison without its message or a reason: %+v", poison[0])
			}
		case len(poison) == 0 && applied == 1:
		default:
			t.Fatalf("one message: %d poison entries and %d changes applied", len(poison), applied)
		}
	})
}
