// Package consumer turns Kafka batches into emails: it decodes each message,
// asks delivery which email (if any) it means, claims the idempotency marker,
// renders and sends the email with bounded retries, and reports poison
// messages to the kafka group so they reach the dead-letter topic.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/mail"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
	"github.com/terning-farewell/farewell/services/notifier/internal/templates"
)

// Sender delivers one email; errors wrap mail.ErrPermanent when retrying
// cannot help.
type Sender interface {
	Send(ctx context.Context, m mail.Message) error
}

// MarkerStore holds the idempotency markers.
type MarkerStore interface {
	Claim(ctx context.Context, job delivery.Job) (delivery.Claim, error)
	MarkSent(ctx context.Context, job delivery.Job) error
	Release(ctx context.Context, job delivery.Job) error
}

// Renderer renders the email bodies.
type Renderer interface {
	Code(code string, expiresAt, now time.Time) (templates.Rendered, error)
	Winner(rank int64) (templates.Rendered, error)
	Loser() (templates.Rendered, error)
}

var (
	_ Sender      = (*mail.Sender)(nil)
	_ MarkerStore = (*delivery.Markers)(nil)
	_ Renderer    = (*templates.Renderer)(nil)
)

// Retry bounds the in-batch retries of one email on temporary SMTP errors.
type Retry struct {
	// MaxAttempts is how many sends are tried before the batch fails.
	MaxAttempts int
	// FirstBackoff doubles after every failure, up to MaxBackoff.
	FirstBackoff time.Duration
	MaxBackoff   time.Duration
}

// DefaultRetry is 100ms…2s backoff with maxAttempts tries.
func DefaultRetry(maxAttempts int) Retry {
	return Retry{MaxAttempts: maxAttempts, FirstBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}
}

// Deps are what a handler needs.
type Deps struct {
	Sender   Sender
	Markers  MarkerStore
	Renderer Renderer
	Metrics  *Metrics
	Log      *slog.Logger
	Retry    Retry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// decideFunc decodes one message and decides its email.
type decideFunc func(value []byte, now time.Time) (delivery.Job, delivery.SkipReason, error)

// Handler is a kafka.BatchHandler for one kind of email.
type Handler struct {
	kind   delivery.Kind
	decide decideFunc
	d      Deps
}

var _ kafka.BatchHandler = (*Handler)(nil)

// NewCodeHandler handles farewell.auth.codes: verification-code emails.
func NewCodeHandler(d Deps) (*Handler, error) {
	return newHandler(delivery.KindCode, func(value []byte, now time.Time) (delivery.Job, delivery.SkipReason, error) {
		var m farewellv1.VerificationCodeRequested
		if err := proto.Unmarshal(value, &m); err != nil {
			return delivery.Job{}, delivery.SkipNone, fmt.Errorf("%w: undecodable VerificationCodeRequested: %v", delivery.ErrInvalidMessage, err)
		}
		return delivery.CodeJob(&m, now)
	}, d)
}

// NewResultHandler handles farewell.event.decisions: result emails, to
// losers only when notifyLosers is set.
func NewResultHandler(d Deps, notifyLosers bool) (*Handler, error) {
	return newHandler(delivery.KindResult, func(value []byte, _ time.Time) (delivery.Job, delivery.SkipReason, error) {
		var m farewellv1.ApplicationDecided
		if err := proto.Unmarshal(value, &m); err != nil {
			return delivery.Job{}, delivery.SkipNone, fmt.Errorf("%w: undecodable ApplicationDecided: %v", delivery.ErrInvalidMessage, err)
		}
		return delivery.ResultJob(&m, notifyLosers)
	}, d)
}

func newHandler(kind delivery.Kind, decide decideFunc, d Deps) (*Handler, error) {
	if d.Sender == nil || d.Markers == nil || d.Renderer == nil || d.Metrics == nil || d.Log == nil {
		return nil, errors.New("consumer: sender, markers, renderer, metrics and logger are required")
	}
	if d.Retry.MaxAttempts < 1 || d.Retry.FirstBackoff <= 0 {
		return nil, errors.New("consumer: retry needs at least one attempt and a positive backoff")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Handler{kind: kind, decide: decide, d: d}, nil
}

// errTemporary wraps failures that make the whole batch retry later.
var errTemporary = errors.New("temporary delivery failure")

// HandleBatch sends the batch's emails in order. Emails already sent (by an
// earlier try of this batch or a redelivery) are skipped through their
// markers, so retrying the whole batch is safe.
func (h *Handler) HandleBatch(ctx context.Context, msgs []*sarama.ConsumerMessage) ([]kafka.Poison, error) {
	var poison []kafka.Poison
	for _, msg := range msgs {
		p, err := h.handle(ctx, msg)
		if err != nil {
			return nil, fmt.Errorf("%s batch at %s/%d/%d: %w", h.kind, msg.Topic, msg.Partition, msg.Offset, err)
		}
		if p != nil {
			poison = append(poison, *p)
		}
	}
	return poison, nil
}

// handle delivers one message. It returns poison for a message that can
// never be delivered and an error when the batch must be retried.
func (h *Handler) handle(ctx context.Context, msg *sarama.ConsumerMessage) (*kafka.Poison, error) {
	now := h.d.Now()
	job, skip, err := h.decide(msg.Value, now)
	if err != nil {
		h.d.Metrics.poisoned(h.kind, poisonInvalid)
		return &kafka.Poison{Msg: msg, Reason: err.Error(), Attempts: 1}, nil
	}
	if skip != delivery.SkipNone {
		h.d.Metrics.skipped(h.kind, skip)
		return nil, nil
	}

	claim, err := h.d.Markers.Claim(ctx, job)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTemporary, err)
	}
	switch claim {
	case delivery.AlreadySent:
		h.d.Metrics.duplicate(h.kind)
		return nil, nil
	case delivery.InFlight:
		// Someone else owns it, or a crashed consumer left its claim: the
		// batch waits, and once the claim expires the email is sent.
		h.d.Metrics.inFlight(h.kind)
		return nil, fmt.Errorf("%w: email %s is being sent elsewhere", errTemporary, job.MessageID())
	}

	out, err := h.render(job, now)
	if err != nil {
		h.release(job)
		h.d.Metrics.poisoned(h.kind, poisonRender)
		return &kafka.Poison{Msg: msg, Reason: "render: " + err.Error(), Attempts: 1}, nil
	}

	attempts, err := h.send(ctx, job, out)
	switch {
	case err == nil:
	case errors.Is(err, mail.ErrPermanent):
		h.release(job)
		h.d.Metrics.failed(h.kind, failurePermanent)
		h.d.Metrics.poisoned(h.kind, poisonPermanent)
		return &kafka.Poison{Msg: msg, Reason: err.Error(), Attempts: attempts}, nil
	default:
		h.release(job)
		h.d.Metrics.failed(h.kind, failureTemporary)
		return nil, fmt.Errorf("%w: after %d attempts: %w", errTemporary, attempts, err)
	}

	h.d.Metrics.sent(h.kind)
	if err := h.d.Markers.MarkSent(context.WithoutCancel(ctx), job); err != nil {
		// The email is out; the "sending" claim still blocks duplicates
		// until it expires, so the batch goes on rather than resending.
		h.d.Log.Warn("email sent but its marker could not be set", "kind", h.kind, "message_id", job.MessageID(), "err", err)
	}
	return nil, nil
}

func (h *Handler) render(job delivery.Job, now time.Time) (templates.Rendered, error) {
	switch job.Template {
	case delivery.TemplateCode:
		return h.d.Renderer.Code(job.Code, job.ExpiresAt, now)
	case delivery.TemplateWinner:
		return h.d.Renderer.Winner(job.Rank)
	case delivery.TemplateLoser:
		return h.d.Renderer.Loser()
	default:
		return templates.Rendered{}, fmt.Errorf("no template %d", job.Template)
	}
}

// send tries the email until it is accepted, refused for good, or the
// attempts run out, and returns how many attempts it made.
func (h *Handler) send(ctx context.Context, job delivery.Job, out templates.Rendered) (int, error) {
	msg := mail.Message{To: job.To, Subject: out.Subject, Text: out.Text, HTML: out.HTML, MessageID: job.MessageID()}
	backoff := h.d.Retry.FirstBackoff
	for attempt := 1; ; attempt++ {
		err := h.d.Sender.Send(ctx, msg)
		if err == nil || errors.Is(err, mail.ErrPermanent) || attempt >= h.d.Retry.MaxAttempts || ctx.Err() != nil {
			return attempt, err
		}
		h.d.Metrics.retried(h.kind)
		h.d.Log.Warn("temporary smtp failure; retrying", "kind", h.kind, "message_id", job.MessageID(),
			"attempt", attempt, "retry_in", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return attempt, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, h.d.Retry.MaxBackoff)
	}
}

// release frees a claim even when the batch's context has ended.
func (h *Handler) release(job delivery.Job) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.d.Markers.Release(ctx, job); err != nil {
		h.d.Log.Warn("could not release an email claim; it expires on its own", "kind", h.kind, "message_id", job.MessageID(), "err", err)
	}
}
