// Package verification runs the two use cases of the auth service: issuing
// a one-time code to an email (rate limited, stored as an HMAC, announced
// to the notifier) and verifying it (single use, limited attempts)
// in exchange for a participant token. I/O is reached through the small
// interfaces below; the HTTP layer maps the errors it returns.
package verification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/services/auth/internal/codes"
)

// Domain errors. The HTTP layer maps each of them to one answer.
var (
	// ErrInvalidEmail: the address is not acceptable.
	ErrInvalidEmail = errors.New("invalid email")
	// ErrInvalidCode: the code is malformed, wrong, expired or already used.
	ErrInvalidCode = errors.New("invalid verification code")
	// ErrUnavailable: a dependency (Redis, Kafka) did not answer in time;
	// nothing was changed, the client may retry shortly.
	ErrUnavailable = errors.New("dependency unavailable")
)

// Limit names a limit that refused a request.
type Limit string

// The limits the service enforces.
const (
	LimitIPRequests Limit = "ip"
	LimitCooldown   Limit = "cooldown"
	LimitHourly     Limit = "hourly"
	// LimitAddress: the address got as many codes as all clients together
	// may get in a window.
	LimitAddress    Limit = "address"
	LimitIPVerifies Limit = "ip_verify"
	// LimitAttempts: too many wrong codes; the code was burned.
	LimitAttempts Limit = "attempts"
)

// LimitError says which limit refused a request and when to retry.
type LimitError struct {
	Limit      Limit
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("limit %s reached, retry after %s", e.Limit, e.RetryAfter)
}

// Refusal is a store's answer when a limit refused a request.
type Refusal struct {
	Limit      Limit
	RetryAfter time.Duration
}

// AttemptState is the outcome of starting a verification attempt.
type AttemptState int

// Attempt states.
const (
	// AttemptMissing: no live code for the email and client (never sent,
	// expired, used or burned).
	AttemptMissing AttemptState = iota
	// AttemptExhausted: the code had no attempts left and is now deleted.
	AttemptExhausted
	// AttemptStarted: one attempt was counted; compare against Digest.
	AttemptStarted
)

// Attempt is a counted verification attempt against the stored code.
type Attempt struct {
	State AttemptState
	// Number is this attempt's 1-based number.
	Number int
	// Digest is the stored HMAC of the code.
	Digest string
}

// CodeStore keeps codes, attempts and limits. Every method is atomic. A
// code belongs to the pair (email, client): the client that asked for it is
// the only one that can use it or burn it, so a stranger who knows the
// address cannot take the participant's chance away.
type CodeStore interface {
	// Issue applies the per-client, cooldown, hourly and per-address limits
	// and, when they allow it, stores digest as the code of (email, client)
	// with zero attempts. It returns nil when the code was stored.
	Issue(ctx context.Context, client, email, digest string, now time.Time) (*Refusal, error)
	// Undo removes a code issued at issuedAt whose message could not be
	// published, with its cooldown and counts, so the participant can ask
	// again at once.
	Undo(ctx context.Context, client, email, digest string, issuedAt time.Time) error
	// Now is the store's clock (Redis TIME). Every replica reads this one
	// clock for the code's times and the limit windows, so a replica whose
	// own clock is off neither mails codes that look expired (or live too
	// long) nor counts requests in windows of its own.
	Now(ctx context.Context) (time.Time, error)
	// AllowVerify counts a verify call against the per-client limit.
	AllowVerify(ctx context.Context, client string, now time.Time) (*Refusal, error)
	// BeginAttempt counts one attempt on the code of (email, client) before
	// it is compared, so concurrent guesses can never exceed the limit.
	BeginAttempt(ctx context.Context, client, email string) (Attempt, error)
	// DeleteIfMatch deletes the code of (email, client) if its digest is
	// still digest and reports whether it did: the single-use guarantee.
	DeleteIfMatch(ctx context.Context, client, email, digest string) (bool, error)
}

// CodeRequest asks the notifier to mail a code.
type CodeRequest struct {
	// Email is the address as typed: the code goes there.
	Email       string
	Code        string
	RequestedAt time.Time
	ExpiresAt   time.Time
	// RequestID identifies the request, so a redelivery mails nobody twice.
	RequestID string
}

// Announcer hands a code request to the notifier and returns once it is
// durable (the broker acknowledged it).
type Announcer interface {
	AnnounceCode(ctx context.Context, r CodeRequest) error
}

// Minter issues participant tokens for an identity, carrying the address
// as typed for the mail that follows.
type Minter interface {
	MintFor(identity, delivery string, now time.Time) (string, error)
}

// Settings are the rules the service applies.
type Settings struct {
	CodeTTL        time.Duration
	ResendCooldown time.Duration
	MaxAttempts    int
	PublishTimeout time.Duration
	// Policy maps an address to its participant identity.
	Policy codes.Policy
}

// Service issues and verifies codes.
type Service struct {
	store   CodeStore
	pub     Announcer
	tokens  Minter
	hasher  codes.Hasher
	set     Settings
	log     *slog.Logger
	metrics *metrics
}

// New returns a Service; metrics are registered on reg.
func New(store CodeStore, pub Announcer, tokens Minter, hasher codes.Hasher, set Settings, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if store == nil || pub == nil || tokens == nil || log == nil {
		return nil, errors.New("verification: store, announcer, minter and logger are required")
	}
	if _, err := codes.ParsePolicy(string(set.Policy)); err != nil {
		return nil, fmt.Errorf("verification: %w", err)
	}
	if set.MaxAttempts < 1 || set.CodeTTL <= 0 || set.PublishTimeout <= 0 {
		return nil, errors.New("verification: incomplete settings")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Service{store: store, pub: pub, tokens: tokens, hasher: hasher, set: set, log: log, metrics: m}, nil
}

// RequestCode issues a new code for rawEmail to client (the key of the
// per-client limits) and returns once the code request is durable in Kafka.
// Limits and the code are kept under the address's identity; the code is
// mailed to the address as typed. It returns ErrInvalidEmail, a *LimitError
// or ErrUnavailable.
func (s *Service) RequestCode(ctx context.Context, client, rawEmail string) error {
	addr, err := s.set.Policy.Parse(rawEmail)
	if err != nil {
		s.metrics.refused(refusedInvalidEmail)
		return ErrInvalidEmail
	}
	code, err := codes.GenerateCode()
	if err != nil {
		return err
	}
	email := addr.Identity
	digest := s.hasher.Sum(email, code)
	now, err := s.store.Now(ctx)
	if err != nil {
		s.metrics.refused(refusedStoreError)
		return fmt.Errorf("read the store's clock: %w: %w", ErrUnavailable, err)
	}
	refusal, err := s.store.Issue(ctx, client, email, digest, now)
	if err != nil {
		s.metrics.refused(refusedStoreError)
		return fmt.Errorf("issue code: %w: %w", ErrUnavailable, err)
	}
	if refusal != nil {
		s.metrics.refused(string(refusal.Limit))
		return &LimitError{Limit: refusal.Limit, RetryAfter: refusal.RetryAfter}
	}

	req := CodeRequest{
		Email: addr.Delivery, Code: code, RequestedAt: now, ExpiresAt: now.Add(s.set.CodeTTL), RequestID: uuid.NewString(),
	}
	// A client that hangs up must not leave a stored code whose email may
	// or may not be on its way: the publish runs to its own deadline.
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.set.PublishTimeout)
	defer cancel()
	if err := s.pub.AnnounceCode(pubCtx, req); err != nil {
		s.undo(client, email, digest, now)
		s.metrics.refused(refusedPublishFailed)
		return fmt.Errorf("publish code request: %w: %w", ErrUnavailable, err)
	}
	s.metrics.requested.Inc()
	return nil
}

// undo releases what Issue reserved. If it fails, the cooldown and the code
// simply expire on their own.
func (s *Service) undo(client, email, digest string, issuedAt time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.store.Undo(ctx, client, email, digest, issuedAt); err != nil {
		s.log.Warn("could not undo an unpublished code; it will expire", "err", err)
	}
}

// Verify checks rawCode against the code client asked for rawEmail and
// returns a participant token whose subject is the address's identity. It
// returns ErrInvalidEmail, ErrInvalidCode, a *LimitError or ErrUnavailable.
func (s *Service) Verify(ctx context.Context, client, rawEmail, rawCode string) (string, error) {
	addr, err := s.set.Policy.Parse(rawEmail)
	if err != nil {
		s.metrics.verified(outcomeInvalidEmail)
		return "", ErrInvalidEmail
	}
	if err := codes.ValidateCode(rawCode); err != nil {
		s.metrics.verified(outcomeMalformed)
		return "", ErrInvalidCode
	}
	email := addr.Identity
	now, err := s.store.Now(ctx)
	if err != nil {
		s.metrics.verified(outcomeError)
		return "", fmt.Errorf("read the store's clock: %w: %w", ErrUnavailable, err)
	}
	refusal, err := s.store.AllowVerify(ctx, client, now)
	if err != nil {
		s.metrics.verified(outcomeError)
		return "", fmt.Errorf("verify rate limit: %w: %w", ErrUnavailable, err)
	}
	if refusal != nil {
		s.metrics.verified(outcomeRateLimited)
		return "", &LimitError{Limit: refusal.Limit, RetryAfter: refusal.RetryAfter}
	}

	attempt, err := s.store.BeginAttempt(ctx, client, email)
	if err != nil {
		s.metrics.verified(outcomeError)
		return "", fmt.Errorf("begin attempt: %w: %w", ErrUnavailable, err)
	}
	switch attempt.State {
	case AttemptMissing:
		s.metrics.verified(outcomeNoCode)
		return "", ErrInvalidCode
	case AttemptExhausted:
		s.metrics.verified(outcomeExhausted)
		return "", s.attemptsExhausted()
	}

	if !s.hasher.Matches(email, rawCode, attempt.Digest) {
		if attempt.Number < s.set.MaxAttempts {
			s.metrics.verified(outcomeWrongCode)
			return "", ErrInvalidCode
		}
		// That was the last attempt: burn the code so it cannot be guessed
		// further, even with the right digits.
		if _, err := s.store.DeleteIfMatch(ctx, client, email, attempt.Digest); err != nil {
			s.metrics.verified(outcomeError)
			return "", fmt.Errorf("burn code: %w: %w", ErrUnavailable, err)
		}
		s.metrics.verified(outcomeBurned)
		return "", s.attemptsExhausted()
	}

	consumed, err := s.store.DeleteIfMatch(ctx, client, email, attempt.Digest)
	if err != nil {
		s.metrics.verified(outcomeError)
		return "", fmt.Errorf("consume code: %w: %w", ErrUnavailable, err)
	}
	if !consumed {
		// A concurrent verify with the same code won the race.
		s.metrics.verified(outcomeAlreadyUsed)
		return "", ErrInvalidCode
	}
	tok, err := s.tokens.MintFor(email, addr.Delivery, now)
	if err != nil {
		s.metrics.verified(outcomeError)
		return "", fmt.Errorf("mint token: %w", err)
	}
	s.metrics.verified(outcomeSuccess)
	return tok, nil
}

// attemptsExhausted tells the client to ask for a new code, which is
// possible once the resend cooldown has passed.
func (s *Service) attemptsExhausted() error {
	return &LimitError{Limit: LimitAttempts, RetryAfter: s.set.ResendCooldown}
}
