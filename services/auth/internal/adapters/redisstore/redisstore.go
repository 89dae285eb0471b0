// Package redisstore keeps verification codes, attempts and rate-limit counters
// in Redis. Every operation is one Lua script (files under lua/, embedded
// and loaded once, run with EVALSHA), so each is atomic.
//
// Keys (all expire on their own). <email> is the participant identity under
// the email policy, <client> the client key (an IPv4 address or an IPv6
// /64); an identity holds no ':', so <email>:<client> is unambiguous:
//
//	farewell:auth:code:<email>:<client>      hash {hmac, attempts}, TTL = code TTL
//	farewell:auth:cooldown:<email>:<client>  resend cooldown
//	farewell:auth:hourly:<email>:<client>    codes issued in the current hour
//	farewell:auth:addr:<email>:<window>      codes issued to the address in a window, all clients
//	farewell:auth:ip:<client>:<window>       code requests from a client in a window
//	farewell:auth:ipv:<client>:<window>      verify calls from a client in a window
//
// Each client asking for an address has its own code, cooldown, hourly quota
// and attempts, so a stranger who knows the address can neither use up the
// participant's quota nor burn the participant's code; the per-address cap
// bounds how many codes all clients together get in a window.
//
// The scripts touch a client key and email keys together, which Redis
// Cluster would refuse (different slots); Farewell runs one Redis primary.
package redisstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/services/auth/internal/codes"
	"github.com/terning-farewell/farewell/services/auth/internal/verification"
)

//go:embed lua/*.lua
var scriptFiles embed.FS

const hourlyWindow = time.Hour

// Limits are the numbers the store enforces.
type Limits struct {
	CodeTTL        time.Duration
	ResendCooldown time.Duration
	HourlyLimit    int
	MaxAttempts    int
	IPRequestLimit int
	IPVerifyLimit  int
	IPWindow       time.Duration
	// AddressLimit caps the codes issued to one address, all clients
	// together, per AddressWindow.
	AddressLimit  int
	AddressWindow time.Duration
}

// Client is the part of a Redis client the store needs.
type Client interface {
	redis.Scripter
	Time(ctx context.Context) *redis.TimeCmd
}

// Store is the Redis implementation of verification.CodeStore.
type Store struct {
	rdb    Client
	limits Limits

	issue, undo, rateLimit, attempt, deleteIfMatch, pinPolicy *redis.Script
}

var _ verification.CodeStore = (*Store)(nil)

// New loads the scripts into Redis and returns a Store.
func New(ctx context.Context, rdb Client, limits Limits) (*Store, error) {
	if limits.IPWindow <= 0 || limits.AddressWindow <= 0 || limits.AddressLimit < 1 || limits.CodeTTL <= 0 || limits.ResendCooldown <= 0 || limits.MaxAttempts < 1 {
		return nil, errors.New("store: incomplete limits")
	}
	s := &Store{rdb: rdb, limits: limits}
	for _, sc := range []struct {
		dst  **redis.Script
		file string
	}{
		{&s.issue, "lua/issue.lua"},
		{&s.undo, "lua/undo.lua"},
		{&s.rateLimit, "lua/ratelimit.lua"},
		{&s.attempt, "lua/attempt.lua"},
		{&s.deleteIfMatch, "lua/delete_if_match.lua"},
		{&s.pinPolicy, "lua/pin_policy.lua"},
	} {
		script, err := redisx.LoadScript(ctx, rdb, scriptFiles, sc.file)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		*sc.dst = script
	}
	return s, nil
}

// ErrPolicyInUse: the event already has applications under another email policy.
var ErrPolicyInUse = errors.New("the event has applications under another email policy")

// PinPolicy records policy as the email policy of eventID. An event that
// already has applications under another policy keeps it, and PinPolicy
// returns ErrPolicyInUse: changing it would give one mailbox two identities,
// hence two applications. An event without applications takes the new one.
func (s *Store) PinPolicy(ctx context.Context, eventID string, policy codes.Policy) error {
	k := redisx.KeysFor(eventID)
	res, err := s.pinPolicy.Run(ctx, s.rdb, []string{k.EmailPolicy, k.Applied}, string(policy)).StringSlice()
	if err != nil || len(res) != 2 {
		return fmt.Errorf("pin-policy script: %w (reply %v)", err, res)
	}
	if res[0] == "in_use" {
		return fmt.Errorf("%w: event %q runs under %q, not %q; keep FAREWELL_EMAIL_POLICY=%s or start a new event id", ErrPolicyInUse, eventID, res[1], policy, res[1])
	}
	return nil
}

// CodeKey is the hash holding the digest and attempts of the code client
// asked for email.
func CodeKey(email, client string) string { return "farewell:auth:code:" + email + ":" + client }

// CooldownKey exists while client may not ask for another code for email.
func CooldownKey(email, client string) string {
	return "farewell:auth:cooldown:" + email + ":" + client
}

// HourlyKey counts the codes client got for email in the current hour.
func HourlyKey(email, client string) string { return "farewell:auth:hourly:" + email + ":" + client }

func addressKey(email string, window int64) string {
	return "farewell:auth:addr:" + email + ":" + strconv.FormatInt(window, 10)
}

// ipRequestKey and ipVerifyKey count per client IP in fixed windows.
func ipRequestKey(ip string, window int64) string {
	return "farewell:auth:ip:" + ip + ":" + strconv.FormatInt(window, 10)
}

func ipVerifyKey(ip string, window int64) string {
	return "farewell:auth:ipv:" + ip + ":" + strconv.FormatInt(window, 10)
}

// window returns the index of the fixed window of size holding now and the time left in it.
func window(size time.Duration, now time.Time) (int64, time.Duration) {
	ms, sz := now.UnixMilli(), size.Milliseconds()
	return ms / sz, time.Duration(sz-ms%sz) * time.Millisecond
}

// Issue implements verification.CodeStore.
func (s *Store) Issue(ctx context.Context, client, email, digest string, now time.Time) (*verification.Refusal, error) {
	w, left := window(s.limits.IPWindow, now)
	aw, aleft := window(s.limits.AddressWindow, now)
	res, err := s.issue.Run(ctx, s.rdb,
		[]string{ipRequestKey(client, w), CooldownKey(email, client), HourlyKey(email, client), CodeKey(email, client), addressKey(email, aw)},
		s.limits.IPRequestLimit, left.Milliseconds(),
		s.limits.ResendCooldown.Milliseconds(), s.limits.HourlyLimit, hourlyWindow.Milliseconds(),
		digest, s.limits.CodeTTL.Milliseconds(), s.limits.AddressLimit, aleft.Milliseconds(),
	).Slice()
	if err != nil {
		return nil, fmt.Errorf("issue script: %w", err)
	}
	verdict, ttl, err := pair(res)
	if err != nil {
		return nil, fmt.Errorf("issue script: %w", err)
	}
	switch verdict {
	case "ok":
		return nil, nil
	case "ip":
		return refusal(verification.LimitIPRequests, ttl), nil
	case "cooldown":
		return refusal(verification.LimitCooldown, ttl), nil
	case "hourly":
		return refusal(verification.LimitHourly, ttl), nil
	case "address":
		return refusal(verification.LimitAddress, ttl), nil
	default:
		return nil, fmt.Errorf("issue script: unexpected verdict %q", verdict)
	}
}

// Undo implements verification.CodeStore.
func (s *Store) Undo(ctx context.Context, client, email, digest string, issuedAt time.Time) error {
	aw, _ := window(s.limits.AddressWindow, issuedAt)
	err := s.undo.Run(ctx, s.rdb, []string{CooldownKey(email, client), HourlyKey(email, client), CodeKey(email, client), addressKey(email, aw)}, digest).Err()
	if err != nil {
		return fmt.Errorf("undo script: %w", err)
	}
	return nil
}

// Now implements verification.CodeStore: Redis's clock (TIME).
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	t, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("redis time: %w", err)
	}
	return t, nil
}

// AllowVerify implements verification.CodeStore.
func (s *Store) AllowVerify(ctx context.Context, client string, now time.Time) (*verification.Refusal, error) {
	w, left := window(s.limits.IPWindow, now)
	res, err := s.rateLimit.Run(ctx, s.rdb, []string{ipVerifyKey(client, w)}, s.limits.IPVerifyLimit, left.Milliseconds()).Int64Slice()
	if err != nil || len(res) != 2 {
		return nil, fmt.Errorf("verify rate-limit script: %w (reply %v)", err, res)
	}
	if res[0] == 1 {
		return nil, nil
	}
	return refusal(verification.LimitIPVerifies, res[1]), nil
}

// BeginAttempt implements verification.CodeStore.
func (s *Store) BeginAttempt(ctx context.Context, client, email string) (verification.Attempt, error) {
	res, err := s.attempt.Run(ctx, s.rdb, []string{CodeKey(email, client)}, s.limits.MaxAttempts).Slice()
	if err != nil {
		return verification.Attempt{}, fmt.Errorf("attempt script: %w", err)
	}
	if len(res) != 2 {
		return verification.Attempt{}, fmt.Errorf("attempt script: unexpected reply %v", res)
	}
	n, ok1 := res[0].(int64)
	digest, ok2 := res[1].(string)
	if !ok1 || !ok2 {
		return verification.Attempt{}, fmt.Errorf("attempt script: unexpected reply types %T, %T", res[0], res[1])
	}
	switch {
	case n == 0:
		return verification.Attempt{State: verification.AttemptMissing}, nil
	case n < 0:
		return verification.Attempt{State: verification.AttemptExhausted}, nil
	default:
		return verification.Attempt{State: verification.AttemptStarted, Number: int(n), Digest: digest}, nil
	}
}

// DeleteIfMatch implements verification.CodeStore.
func (s *Store) DeleteIfMatch(ctx context.Context, client, email, digest string) (bool, error) {
	n, err := s.deleteIfMatch.Run(ctx, s.rdb, []string{CodeKey(email, client)}, digest).Int64()
	if err != nil {
		return false, fmt.Errorf("delete-if-match script: %w", err)
	}
	return n == 1, nil
}

func pair(res []any) (string, int64, error) {
	if len(res) != 2 {
		return "", 0, fmt.Errorf("unexpected reply %v", res)
	}
	verdict, ok1 := res[0].(string)
	ttl, ok2 := res[1].(int64)
	if !ok1 || !ok2 {
		return "", 0, fmt.Errorf("unexpected reply types %T, %T", res[0], res[1])
	}
	return verdict, ttl, nil
}

func refusal(limit verification.Limit, ttlMillis int64) *verification.Refusal {
	// Never tell a client to retry in 0 s: it would come straight back.
	return &verification.Refusal{Limit: limit, RetryAfter: max(time.Duration(ttlMillis)*time.Millisecond, time.Second)}
}
