package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/terning-farewell/farewell/services/notifier/internal/templates"
)

// ErrPermanent marks a send that retrying cannot help (the SMTP server
// refused the recipient or the message for good).
var ErrPermanent = errors.New("permanent delivery failure")

// ErrUnavailable marks a failure of a server being down (SMTP or Redis not
// answering, refusing everything, failing over) or of an email claimed by
// another consumer: the batch is retried without bound. A failure without
// it may repeat the same way for this message every time (a recipient the
// SMTP server keeps deferring, a marker Redis refuses): the batch is retried
// a bounded number of times, then the message is isolated and dead-lettered
// (kafka.GroupConfig.MaxAttempts), so it cannot stall its partition.
var ErrUnavailable = errors.New("server unavailable")

// Email is one rendered email, ready for the SMTP server.
type Email struct {
	To        string
	Subject   string
	Text      string
	HTML      string
	MessageID string
}

// Sender delivers one email; errors wrap ErrPermanent when retrying cannot
// help.
type Sender interface {
	Send(ctx context.Context, e Email) error
}

// Claim is the outcome of claiming a job's marker.
type Claim int

// Claim outcomes.
const (
	// Claimed: the caller owns the job and must send it.
	Claimed Claim = iota + 1
	// AlreadySent: the email went out before; skip it.
	AlreadySent
	// InFlight: another consumer is sending it (or crashed doing so);
	// retry later.
	InFlight
)

// MarkerStore holds the idempotency markers.
type MarkerStore interface {
	Claim(ctx context.Context, job Job) (Claim, error)
	MarkSent(ctx context.Context, job Job) error
	Release(ctx context.Context, job Job) error
}

// Renderer renders the email bodies.
type Renderer interface {
	Code(code string, expiresAt, now time.Time) (templates.Rendered, error)
	Winner(rank int64) (templates.Rendered, error)
	Loser() (templates.Rendered, error)
}

var _ Renderer = (*templates.Renderer)(nil)

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

// Deps are what a Service needs.
type Deps struct {
	Sender   Sender
	Markers  MarkerStore
	Renderer Renderer
	Metrics  *Metrics
	Log      *slog.Logger
	Retry    Retry
	// Now is the clock the code emails' expiry is checked and shown
	// against: Redis's (TIME), the one auth stamped the expiry with, so a
	// notifier whose own clock is off neither drops live codes nor mails
	// expired ones. Nil means this process's clock.
	Now func(ctx context.Context) (time.Time, error)
	// SendTimeout is the SMTP timeout of one send (it bounds the retries:
	// see sendBudget); zero means 10 s.
	SendTimeout time.Duration
	// Parallel is how many emails of one batch may be delivered at once
	// (the Sender must allow as many sends at once); zero means one.
	Parallel int
}

// Undeliverable says why a message can never be delivered; it goes to the
// dead-letter topic.
type Undeliverable struct {
	Reason   string
	Attempts int
}

// ErrTemporary wraps failures that make the whole batch retry later.
var ErrTemporary = errors.New("temporary delivery failure")

// recentCapacity bounds how many sent emails a Service remembers in memory.
const recentCapacity = 100_000

// Service sends the emails of one kind, at most once per job.
type Service struct {
	kind Kind
	d    Deps
	// recent remembers the emails this process sent, so a batch retried
	// after Redis lost or refused their "sent" markers does not mail them
	// again (Redis restarted without the last writes, or answered errors).
	recent *recentSends
}

// NewService returns a Service for kind.
func NewService(kind Kind, d Deps) (*Service, error) {
	if d.Sender == nil || d.Markers == nil || d.Renderer == nil || d.Metrics == nil || d.Log == nil {
		return nil, errors.New("delivery: sender, markers, renderer, metrics and logger are required")
	}
	if d.Retry.MaxAttempts < 1 || d.Retry.FirstBackoff <= 0 {
		return nil, errors.New("delivery: retry needs at least one attempt and a positive backoff")
	}
	if d.Now == nil {
		d.Now = func(context.Context) (time.Time, error) { return time.Now(), nil }
	}
	if d.SendTimeout <= 0 {
		d.SendTimeout = 10 * time.Second
	}
	d.Parallel = max(d.Parallel, 1)
	return &Service{kind: kind, d: d, recent: newRecentSends(recentCapacity)}, nil
}

// Kind is the kind of email the service sends.
func (s *Service) Kind() Kind { return s.kind }

// Parallel is how many emails of one batch may be delivered at once.
func (s *Service) Parallel() int { return s.d.Parallel }

// Deliver decides (with decide, at the service's clock) and sends one
// message's email. It returns a non-nil *Undeliverable for a message that
// can never be delivered, and an error (wrapping ErrTemporary) when the
// batch must be retried. An email already sent is skipped through its
// marker, so delivering the same message again is safe.
func (s *Service) Deliver(ctx context.Context, decide func(now time.Time) (Job, SkipReason, error)) (*Undeliverable, error) {
	now, err := s.d.Now(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: read the clock: %w", ErrTemporary, ErrUnavailable, err)
	}
	job, skip, err := decide(now)
	if err != nil {
		s.d.Metrics.poisoned(s.kind, poisonInvalid)
		return &Undeliverable{Reason: err.Error(), Attempts: 1}, nil
	}
	if skip != SkipNone {
		s.d.Metrics.skipped(s.kind, skip)
		return nil, nil
	}

	if s.recent.has(job.MessageID()) {
		// Sent by this process already; its marker may be missing in Redis.
		s.d.Metrics.duplicate(s.kind)
		if err := s.d.Markers.MarkSent(ctx, job); err != nil {
			return nil, fmt.Errorf("%w: restore the sent marker: %w", ErrTemporary, err)
		}
		return nil, nil
	}
	claim, err := s.d.Markers.Claim(ctx, job)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	switch claim {
	case AlreadySent:
		s.d.Metrics.duplicate(s.kind)
		return nil, nil
	case InFlight:
		// Someone else owns it, or a crashed consumer left its claim: the
		// batch waits, and once the claim expires the email is sent.
		s.d.Metrics.inFlight(s.kind)
		return nil, fmt.Errorf("%w: %w: email %s is being sent elsewhere", ErrTemporary, ErrUnavailable, job.MessageID())
	}

	out, err := s.render(job, now)
	if err != nil {
		s.release(job)
		s.d.Metrics.poisoned(s.kind, poisonRender)
		return &Undeliverable{Reason: "render: " + err.Error(), Attempts: 1}, nil
	}

	// The sends stop in time for the last one to finish inside the claim:
	// a claim that expired mid-retry would let another consumer send too.
	claimed := time.Now()
	sendCtx, cancelSend := context.WithTimeout(ctx, s.sendBudget())
	attempts, err := s.send(sendCtx, job, out)
	cancelSend()
	switch {
	case err == nil:
	case errors.Is(err, ErrPermanent):
		s.release(job)
		s.d.Metrics.failed(s.kind, failurePermanent)
		s.d.Metrics.poisoned(s.kind, poisonPermanent)
		return &Undeliverable{Reason: err.Error(), Attempts: attempts}, nil
	default:
		s.release(job)
		s.d.Metrics.failed(s.kind, failureTemporary)
		return nil, fmt.Errorf("%w: after %d attempts: %w", ErrTemporary, attempts, err)
	}

	s.d.Metrics.sent(s.kind)
	s.recent.add(job.MessageID())
	// The email is out: recording it must not stop when the batch's context
	// ends (a rebalance revoking the partition, a shutdown), or the next
	// owner of the partition would wait for the claim to expire and send it
	// again. It stops only when the claim itself expires.
	markCtx, cancelMark := context.WithDeadline(context.WithoutCancel(ctx), claimed.Add(SendingTTL-time.Second))
	defer cancelMark()
	if err := s.markSent(markCtx, job); err != nil {
		// Shutting down before Redis took the marker: the batch is not
		// committed, and the redelivery finds the claim (or, in another
		// process, sends again once it expired: at-least-once at the edge).
		return nil, fmt.Errorf("%w: email sent, marker not set: %w", ErrTemporary, err)
	}
	return nil, nil
}

// sendBudget is how long the sends of one email may take: the claim's
// lifetime less one SMTP timeout and a margin, so a send started at the end
// of the budget still finishes before the claim expires.
func (s *Service) sendBudget() time.Duration {
	budget := SendingTTL - s.d.SendTimeout - 2*time.Second
	return max(budget, time.Second)
}

// markSent records the "sent" marker, retrying while Redis refuses it
// (restarting, paused, failing over): the email is out and must never be
// sent again, so it gives up only when ctx ends (the claim expires).
func (s *Service) markSent(ctx context.Context, job Job) error {
	backoff := s.d.Retry.FirstBackoff
	for attempt := 1; ; attempt++ {
		err := s.d.Markers.MarkSent(ctx, job)
		if err == nil {
			return nil
		}
		s.d.Log.Warn("email sent but its marker could not be set; retrying the marker", "kind", s.kind,
			"message_id", job.MessageID(), "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, s.d.Retry.MaxBackoff)
	}
}

func (s *Service) render(job Job, now time.Time) (templates.Rendered, error) {
	switch job.Template {
	case TemplateCode:
		return s.d.Renderer.Code(job.Code, job.ExpiresAt, now)
	case TemplateWinner:
		return s.d.Renderer.Winner(job.Rank)
	case TemplateLoser:
		return s.d.Renderer.Loser()
	default:
		return templates.Rendered{}, fmt.Errorf("no template %d", job.Template)
	}
}

// send tries the email until it is accepted, refused for good, or the
// attempts run out, and returns how many attempts it made.
func (s *Service) send(ctx context.Context, job Job, out templates.Rendered) (int, error) {
	msg := Email{To: job.To, Subject: out.Subject, Text: out.Text, HTML: out.HTML, MessageID: job.MessageID()}
	backoff := s.d.Retry.FirstBackoff
	for attempt := 1; ; attempt++ {
		err := s.d.Sender.Send(ctx, msg)
		if err == nil || errors.Is(err, ErrPermanent) || attempt >= s.d.Retry.MaxAttempts || ctx.Err() != nil {
			return attempt, err
		}
		s.d.Metrics.retried(s.kind)
		s.d.Log.Warn("temporary smtp failure; retrying", "kind", s.kind, "message_id", job.MessageID(),
			"attempt", attempt, "retry_in", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return attempt, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, s.d.Retry.MaxBackoff)
	}
}

// release frees a claim even when the batch's context has ended.
func (s *Service) release(job Job) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.d.Markers.Release(ctx, job); err != nil {
		s.d.Log.Warn("could not release an email claim; it expires on its own", "kind", s.kind, "message_id", job.MessageID(), "err", err)
	}
}
