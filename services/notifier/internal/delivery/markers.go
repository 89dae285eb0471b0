package delivery

import (
	"context"
	"embed"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/pkg/redisx"
)

//go:embed lua/*.lua
var scriptFiles embed.FS

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

// Markers are the Redis idempotency markers: "sending" while a consumer
// owns a job, "sent" once the SMTP server accepted the email.
type Markers struct {
	rdb            redis.Cmdable
	claim, release *redis.Script
}

// NewMarkers loads the marker scripts into Redis.
func NewMarkers(ctx context.Context, rdb redis.Cmdable) (*Markers, error) {
	claim, err := redisx.LoadScript(ctx, rdb, scriptFiles, "lua/claim.lua")
	if err != nil {
		return nil, fmt.Errorf("markers: %w", err)
	}
	release, err := redisx.LoadScript(ctx, rdb, scriptFiles, "lua/release.lua")
	if err != nil {
		return nil, fmt.Errorf("markers: %w", err)
	}
	return &Markers{rdb: rdb, claim: claim, release: release}, nil
}

// Claim marks job "sending" unless it already has a marker.
func (m *Markers) Claim(ctx context.Context, job Job) (Claim, error) {
	v, err := m.claim.Run(ctx, m.rdb, []string{job.MarkerKey()}, SendingTTL.Milliseconds()).Text()
	if err != nil {
		return 0, fmt.Errorf("claim marker: %w", err)
	}
	switch v {
	case "claimed":
		return Claimed, nil
	case "sent":
		return AlreadySent, nil
	default:
		return InFlight, nil
	}
}

// MarkSent records that job's email was accepted by the SMTP server.
func (m *Markers) MarkSent(ctx context.Context, job Job) error {
	if err := m.rdb.Set(ctx, job.MarkerKey(), "sent", job.SentTTL()).Err(); err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
}

// Release drops job's "sending" claim so it can be tried again.
func (m *Markers) Release(ctx context.Context, job Job) error {
	if err := m.release.Run(ctx, m.rdb, []string{job.MarkerKey()}).Err(); err != nil {
		return fmt.Errorf("release marker: %w", err)
	}
	return nil
}
