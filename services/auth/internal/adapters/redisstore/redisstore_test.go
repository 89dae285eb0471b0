package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/services/auth/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/auth/internal/codes"
	"github.com/terning-farewell/farewell/services/auth/internal/verification"
)

func newStore(t *testing.T) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(context.Background(), testinfra.Redis(t), redisstore.Limits{
		CodeTTL: 5 * time.Minute, ResendCooldown: time.Minute, HourlyLimit: 5, MaxAttempts: 3,
		IPRequestLimit: 100, IPVerifyLimit: 100, IPWindow: time.Minute, AddressLimit: 100, AddressWindow: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreSingleUseAndAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	ip := testinfra.UniqueName("ip-")

	tests := []struct {
		name string
		run  func(t *testing.T, email string)
	}{
		{"two attempts in flight, one consume wins", func(t *testing.T, email string) {
			a1, _ := s.BeginAttempt(ctx, ip, email)
			a2, _ := s.BeginAttempt(ctx, ip, email)
			if a1.State != verification.AttemptStarted || a2.Number != 2 || a1.Digest != "digest-1" {
				t.Fatalf("attempts = %+v, %+v", a1, a2)
			}
			first, _ := s.DeleteIfMatch(ctx, ip, email, a1.Digest)
			second, _ := s.DeleteIfMatch(ctx, ip, email, a2.Digest)
			if !first || second {
				t.Fatalf("consumes = %v, %v; want exactly the first", first, second)
			}
		}},
		{"attempts run out", func(t *testing.T, email string) {
			for i := 1; i <= 3; i++ {
				if a, _ := s.BeginAttempt(ctx, ip, email); a.State != verification.AttemptStarted || a.Number != i {
					t.Fatalf("attempt %d = %+v", i, a)
				}
			}
			if a, _ := s.BeginAttempt(ctx, ip, email); a.State != verification.AttemptExhausted {
				t.Fatalf("4th attempt = %+v, want exhausted", a)
			}
			if a, _ := s.BeginAttempt(ctx, ip, email); a.State != verification.AttemptMissing {
				t.Fatalf("after exhaustion = %+v, want the code gone", a)
			}
		}},
		{"replaced code is not consumed by an old digest", func(t *testing.T, email string) {
			if ok, _ := s.DeleteIfMatch(ctx, ip, email, "some-older-digest"); ok {
				t.Fatal("deleted a code with another digest")
			}
		}},
		{"undo frees the cooldown", func(t *testing.T, email string) {
			if err := s.Undo(ctx, ip, email, "digest-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			if r, err := s.Issue(ctx, ip, email, "digest-2", time.Now()); err != nil || r != nil {
				t.Fatalf("issue after undo = %+v, %v; want stored", r, err)
			}
		}},
		{"cooldown refuses a resend", func(t *testing.T, email string) {
			r, err := s.Issue(ctx, ip, email, "digest-2", time.Now())
			if err != nil || r == nil || r.Limit != verification.LimitCooldown || r.RetryAfter < 59*time.Second {
				t.Fatalf("refusal = %+v, %v; want cooldown ~60s", r, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			email := testinfra.UniqueName("store-") + "@example.com"
			if r, err := s.Issue(ctx, ip, email, "digest-1", time.Now()); err != nil || r != nil {
				t.Fatalf("issue = %+v, %v", r, err)
			}
			tt.run(t, email)
		})
	}
}

// TestPolicyIsPinnedOnceTheEventHasApplications: an event takes any policy
// until it has an application; then only the pinned one.
func TestPolicyIsPinnedOnceTheEventHasApplications(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testinfra.Redis(t)
	s, err := redisstore.New(ctx, rdb, redisstore.Limits{
		CodeTTL: time.Minute, ResendCooldown: time.Second, HourlyLimit: 5, MaxAttempts: 3,
		IPRequestLimit: 100, IPVerifyLimit: 100, IPWindow: time.Minute, AddressLimit: 100, AddressWindow: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	event := testinfra.UniqueName("ev-")
	for _, p := range []codes.Policy{codes.PolicyMailbox, codes.PolicyMailbox, codes.PolicyExact} {
		if err := s.PinPolicy(ctx, event, p); err != nil {
			t.Fatalf("pin %s on an event without applications: %v", p, err)
		}
	}
	rdb.HSet(ctx, redisx.KeysFor(event).Applied, "someone@example.com", "A:1")
	if err := s.PinPolicy(ctx, event, codes.PolicyMailbox); !errors.Is(err, redisstore.ErrPolicyInUse) {
		t.Fatalf("policy change with applications = %v, want ErrPolicyInUse", err)
	}
	if err := s.PinPolicy(ctx, event, codes.PolicyExact); err != nil {
		t.Fatalf("the pinned policy again: %v", err)
	}
}
