//go:build !fuzzing

package consumer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/testinfra"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
	"github.com/terning-farewell/farewell/services/notifier/internal/ports/consumer"
)

// refusingMarkers is the real Redis marker store, except that its first
// refuse MarkSent calls fail, as a Redis that restarts, pauses or fails over
// answers the write that follows a delivered email.
type refusingMarkers struct {
	delivery.MarkerStore
	refuse atomic.Int32
}

func (m *refusingMarkers) MarkSent(ctx context.Context, job delivery.Job) error {
	if m.refuse.Add(-1) >= 0 {
		return errors.New("redis: connection refused")
	}
	return m.MarkerStore.MarkSent(ctx, job)
}

// TestRefusedSentMarkerIsRetriedNotTheEmail: Redis refuses the "sent"
// marker right after the SMTP server took the email. The notifier keeps
// writing the marker (never the email), so a redelivery of the message
// finds it sent: one email.
func TestRefusedSentMarkerIsRetriedNotTheEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	markers := &refusingMarkers{MarkerStore: e.markers}
	markers.refuse.Store(3)
	deps := e.deps(e.sender(t, e.mailpit.SMTPHost, e.mailpit.SMTPPort), delivery.Retry{MaxAttempts: 3, FirstBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	deps.Markers = markers
	h, err := consumer.NewResultHandler(deps, false)
	if err != nil {
		t.Fatal(err)
	}
	email, batch, marker := e.winnerBatch()
	if poison, err := h.HandleBatch(context.Background(), batch); err != nil || len(poison) != 0 {
		t.Fatalf("poison %v, err %v", poison, err)
	}
	if v := e.rdb.Get(context.Background(), marker).Val(); v != "sent" {
		t.Fatalf("marker after the batch = %q, want sent", v)
	}
	// A second consumer (a fresh handler, no memory of the send) gets the
	// message again: the marker says sent.
	e.redeliverMailsNobodyTwice(t, batch, email)
}

// TestRedisForgettingMarkersDoesNotMailTwice: Redis restarts without its
// last writes (appendfsync everysec, kill -9) and forgets the markers of
// emails already sent, while the batch holding them is retried (a later
// message of it failed). The retried batch must not send them again.
func TestRedisForgettingMarkersDoesNotMailTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h, err := consumer.NewResultHandler(e.deps(e.sender(t, e.mailpit.SMTPHost, e.mailpit.SMTPPort), delivery.DefaultRetry(3)), false)
	if err != nil {
		t.Fatal(err)
	}
	event := testinfra.UniqueName("event-")
	email := uniqueEmail()
	d := decision(event, email, farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS, 1)
	value, _ := proto.Marshal(d)
	batch := []*sarama.ConsumerMessage{{Topic: e.decisionsTopic, Value: value}}
	if poison, err := h.HandleBatch(context.Background(), batch); err != nil || len(poison) != 0 {
		t.Fatalf("poison %v, err %v", poison, err)
	}
	e.onlyMail(t, email)
	// Redis comes back without the marker; the same batch is handled again.
	marker := delivery.Job{Kind: delivery.KindResult, ID: event + ":" + email + ":SUCCESS"}.MarkerKey()
	e.rdb.Del(context.Background(), marker)
	if poison, err := h.HandleBatch(context.Background(), batch); err != nil || len(poison) != 0 {
		t.Fatalf("retried batch: poison %v, err %v", poison, err)
	}
	if v := e.rdb.Get(context.Background(), marker).Val(); v != "sent" {
		t.Fatalf("marker after the retried batch = %q, want sent (restored)", v)
	}
	time.Sleep(500 * time.Millisecond)
	e.expectNoMail(t, email, 1)
}

// cancellingSender sends through the real SMTP sender and then cancels
// the batch's context, as a rebalance revoking the partition does right
// after the SMTP server accepted an email.
type cancellingSender struct {
	delivery.Sender
	cancel context.CancelFunc
}

func (s cancellingSender) Send(ctx context.Context, m delivery.Email) error {
	err := s.Sender.Send(ctx, m)
	s.cancel()
	return err
}

// TestRebalanceAfterTheSendStillSetsTheMarker: the batch's context ends
// (a rebalance hands the partition to the other notifier) between the SMTP
// server's 250 and the "sent" marker. The marker must still be written, or
// the next owner of the partition waits for the claim to expire and mails
// the winner again (seen in chaos redis-pause-emails: two winners mailed
// twice, "mark sent: context canceled"). A fresh handler, standing for the
// other notifier, then finds the email sent.
func TestRebalanceAfterTheSendStillSetsTheMarker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sender := cancellingSender{Sender: e.sender(t, e.mailpit.SMTPHost, e.mailpit.SMTPPort), cancel: cancel}
	h, err := consumer.NewResultHandler(e.deps(sender, delivery.DefaultRetry(3)), false)
	if err != nil {
		t.Fatal(err)
	}
	email, batch, marker := e.winnerBatch()
	_, _ = h.HandleBatch(ctx, batch) // the revoked batch is not committed, whatever it answers
	if v := e.rdb.Get(context.Background(), marker).Val(); v != "sent" {
		t.Fatalf("marker after a rebalance right after the send = %q, want sent", v)
	}
	e.redeliverMailsNobodyTwice(t, batch, email)
}

// winnerBatch is a batch of one winner's decision, with the winner's
// address and the key of its sent marker.
func (e *env) winnerBatch() (string, []*sarama.ConsumerMessage, string) {
	email := uniqueEmail()
	d := decision(testinfra.UniqueName("event-"), email, farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS, 1)
	value, _ := proto.Marshal(d)
	marker := delivery.Job{Kind: delivery.KindResult, ID: d.GetEventId() + ":" + email + ":SUCCESS"}.MarkerKey()
	return email, []*sarama.ConsumerMessage{{Topic: e.decisionsTopic, Value: value}}, marker
}

// redeliverMailsNobodyTwice hands batch to another notifier (a fresh
// handler, no memory of the send): email must have had exactly one email.
func (e *env) redeliverMailsNobodyTwice(t *testing.T, batch []*sarama.ConsumerMessage, email string) {
	t.Helper()
	other, err := consumer.NewResultHandler(e.deps(e.sender(t, e.mailpit.SMTPHost, e.mailpit.SMTPPort), delivery.DefaultRetry(3)), false)
	if err != nil {
		t.Fatal(err)
	}
	if poison, err := other.HandleBatch(context.Background(), batch); err != nil || len(poison) != 0 {
		t.Fatalf("the other notifier's delivery: poison %v, err %v", poison, err)
	}
	e.onlyMail(t, email)
	time.Sleep(500 * time.Millisecond)
	e.expectNoMail(t, email, 1)
}
