package verification

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/services/auth/internal/codes"
)

// storeClock is a CodeStore whose clock is far from this process's: a unit
// fake that records the times the service hands it.
type storeClock struct {
	now      time.Time
	digest   string
	issuedAt time.Time
	verifyAt time.Time
}

func (s *storeClock) Now(context.Context) (time.Time, error) { return s.now, nil }

func (s *storeClock) Issue(_ context.Context, _, _, digest string, now time.Time) (*Refusal, error) {
	s.digest, s.issuedAt = digest, now
	return nil, nil
}

func (s *storeClock) Undo(context.Context, string, string, string, time.Time) error { return nil }

func (s *storeClock) AllowVerify(_ context.Context, _ string, now time.Time) (*Refusal, error) {
	s.verifyAt = now
	return nil, nil
}

func (s *storeClock) BeginAttempt(context.Context, string, string) (Attempt, error) {
	return Attempt{State: AttemptStarted, Number: 1, Digest: s.digest}, nil
}

func (s *storeClock) DeleteIfMatch(context.Context, string, string, string) (bool, error) {
	return true, nil
}

type captured struct{ reqs []CodeRequest }

func (c *captured) AnnounceCode(_ context.Context, r CodeRequest) error {
	c.reqs = append(c.reqs, r)
	return nil
}

type mintClock struct{ at time.Time }

func (m *mintClock) MintFor(_, _ string, now time.Time) (string, error) {
	m.at = now
	return "token", nil
}

// TestCodeTimesAreTheStoresClock: the code's request and expiry times, the
// limit windows and the token's issue time all come from the store's clock
// (Redis TIME), not this replica's, so replicas whose clocks disagree agree
// on when a code expires (docs/design.md K7).
func TestCodeTimesAreTheStoresClock(t *testing.T) {
	t.Parallel()
	redisNow := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
	store := &storeClock{now: redisNow}
	pub := &captured{}
	mint := &mintClock{}
	hasher, err := codes.NewHasher([]byte("a code secret of at least thirty-two bytes"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(store, pub, mint, hasher, Settings{CodeTTL: 5 * time.Minute, ResendCooldown: time.Minute, MaxAttempts: 5,
		PublishTimeout: time.Second, Policy: codes.PolicyMailbox}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.RequestCode(ctx, "client", "who@example.com"); err != nil {
		t.Fatal(err)
	}
	if len(pub.reqs) != 1 {
		t.Fatalf("%d code requests published, want 1", len(pub.reqs))
	}
	r := pub.reqs[0]
	if !r.RequestedAt.Equal(redisNow) || !r.ExpiresAt.Equal(redisNow.Add(5*time.Minute)) || !store.issuedAt.Equal(redisNow) {
		t.Fatalf("requested %v, expires %v, issued %v; want the store's %v and five minutes later", r.RequestedAt, r.ExpiresAt, store.issuedAt, redisNow)
	}
	// The stored digest matches this code, so verify goes through.
	if _, err := svc.Verify(ctx, "client", "who@example.com", r.Code); err != nil {
		t.Fatal(err)
	}
	if !store.verifyAt.Equal(redisNow) || !mint.at.Equal(redisNow) {
		t.Fatalf("verify window at %v, token issued at %v; want the store's %v", store.verifyAt, mint.at, redisNow)
	}
}
