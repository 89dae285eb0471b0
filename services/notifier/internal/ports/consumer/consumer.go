// Package consumer is the notifier's Kafka port: it decodes each message
// (protobuf) into what the delivery service understands, lets the service
// send its email, and reports poison messages to the kafka group so they
// reach the dead-letter topic.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
)

// decideFunc decodes one message and decides its email.
type decideFunc func(value []byte, now time.Time) (delivery.Job, delivery.SkipReason, error)

// Handler is a kafka.BatchHandler for one kind of email.
type Handler struct {
	svc    *delivery.Service
	decide decideFunc
}

var _ kafka.BatchHandler = (*Handler)(nil)

// NewCodeHandler handles farewell.auth.codes: verification-code emails.
func NewCodeHandler(d delivery.Deps) (*Handler, error) {
	return newHandler(delivery.KindCode, func(value []byte, now time.Time) (delivery.Job, delivery.SkipReason, error) {
		var m farewellv1.VerificationCodeRequested
		if err := proto.Unmarshal(value, &m); err != nil {
			return delivery.Job{}, delivery.SkipNone, fmt.Errorf("%w: undecodable VerificationCodeRequested: %v", delivery.ErrInvalidMessage, err)
		}
		return delivery.CodeJob(delivery.CodeRequest{
			SchemaVersion: m.GetSchemaVersion(), Email: m.GetEmail(), Code: m.GetCode(),
			RequestID: m.GetRequestId(), ExpiresAtUnixMs: m.GetExpiresAtUnixMs(),
		}, now)
	}, d)
}

// NewResultHandler handles farewell.event.decisions: result emails, to
// losers only when notifyLosers is set.
func NewResultHandler(d delivery.Deps, notifyLosers bool) (*Handler, error) {
	return newHandler(delivery.KindResult, func(value []byte, _ time.Time) (delivery.Job, delivery.SkipReason, error) {
		var m farewellv1.ApplicationDecided
		if err := proto.Unmarshal(value, &m); err != nil {
			return delivery.Job{}, delivery.SkipNone, fmt.Errorf("%w: undecodable ApplicationDecided: %v", delivery.ErrInvalidMessage, err)
		}
		return delivery.ResultJob(delivery.Decided{
			SchemaVersion: m.GetSchemaVersion(), EventID: m.GetEventId(), Email: m.GetEmail(), Delivery: m.GetDeliveryEmail(),
			Status: delivery.DecisionStatus(m.GetStatus()), Rank: m.GetRank(),
		}, notifyLosers)
	}, d)
}

func newHandler(kind delivery.Kind, decide decideFunc, d delivery.Deps) (*Handler, error) {
	svc, err := delivery.NewService(kind, d)
	if err != nil {
		return nil, err
	}
	return &Handler{svc: svc, decide: decide}, nil
}

// HandleBatch sends the batch's emails, up to the service's Parallel at
// once: messages with the same key (the participant's email) go to the
// same lane and are sent in their log order, so one participant's emails
// never overtake each other. Emails already sent (by an earlier try of
// this batch or a redelivery) are skipped through their markers, so
// retrying the whole batch is safe. A failure of a server being down is
// marked kafka.Unavailable (retried without bound); any other is bounded by
// the group and then isolated and dead-lettered. A lane stops at its first
// failure; the others finish theirs before the batch reports it.
func (h *Handler) HandleBatch(ctx context.Context, msgs []*sarama.ConsumerMessage) ([]kafka.Poison, error) {
	results := make([]*delivery.Undeliverable, len(msgs))
	errs := make([]error, len(msgs))
	lanes := laneOf(msgs, h.svc.Parallel())
	var wg sync.WaitGroup
	for _, lane := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range lane {
				results[i], errs[i] = h.deliver(ctx, msgs[i])
				if errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := batchError(errs); err != nil {
		return nil, err
	}
	var poison []kafka.Poison
	for i, msg := range msgs {
		if u := results[i]; u != nil {
			poison = append(poison, kafka.Poison{Msg: msg, Reason: u.Reason, Attempts: u.Attempts})
		}
	}
	return poison, nil
}

// batchError is the failure the batch reports: a server being down when
// any lane met one (retried without bound, never counted towards
// dead-lettering), else the first failure in log order.
func batchError(errs []error) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if kafka.IsUnavailable(err) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// deliver sends one message's email through the service.
func (h *Handler) deliver(ctx context.Context, msg *sarama.ConsumerMessage) (*delivery.Undeliverable, error) {
	u, err := h.svc.Deliver(ctx, func(now time.Time) (delivery.Job, delivery.SkipReason, error) {
		return h.decide(msg.Value, now)
	})
	if err != nil {
		err = fmt.Errorf("%s batch at %s/%d/%d: %w", h.svc.Kind(), msg.Topic, msg.Partition, msg.Offset, err)
		if errors.Is(err, delivery.ErrUnavailable) {
			return nil, kafka.Unavailable(err)
		}
		return nil, err
	}
	return u, nil
}

// laneOf splits the batch's indexes into at most n lanes by message key,
// each lane in log order (a message without a key goes by its
// place in the batch modulo n).
func laneOf(msgs []*sarama.ConsumerMessage, n int) [][]int {
	n = max(min(n, len(msgs)), 1)
	lanes := make([][]int, n)
	for i, msg := range msgs {
		lane := i % n
		if len(msg.Key) > 0 {
			h := fnv.New32a()
			_, _ = h.Write(msg.Key)
			lane = int(h.Sum32() % uint32(n))
		}
		lanes[lane] = append(lanes[lane], i)
	}
	out := lanes[:0]
	for _, l := range lanes {
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	return out
}
