// Package redisstore is the notifier's Redis adapter: the idempotency
// markers ("sending" while a consumer owns a job, "sent" once the SMTP
// server accepted the email), each change one Lua script loaded once.
package redisstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
)

//go:embed lua/*.lua
var scriptFiles embed.FS

// Markers are the Redis idempotency markers: "sending" while a consumer
// owns a job, "sent" once the SMTP server accepted the email.
type Markers struct {
	rdb            redis.Cmdable
	claim, release *redis.Script
}

var _ delivery.MarkerStore = (*Markers)(nil)

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
func (m *Markers) Claim(ctx context.Context, job delivery.Job) (delivery.Claim, error) {
	v, err := m.claim.Run(ctx, m.rdb, []string{job.MarkerKey()}, delivery.SendingTTL.Milliseconds()).Text()
	if err != nil {
		return 0, fmt.Errorf("claim marker: %w", classify(err))
	}
	switch v {
	case "claimed":
		return delivery.Claimed, nil
	case "sent":
		return delivery.AlreadySent, nil
	default:
		return delivery.InFlight, nil
	}
}

// MarkSent records that job's email was accepted by the SMTP server.
func (m *Markers) MarkSent(ctx context.Context, job delivery.Job) error {
	if err := m.rdb.Set(ctx, job.MarkerKey(), "sent", job.SentTTL()).Err(); err != nil {
		return fmt.Errorf("mark sent: %w", classify(err))
	}
	return nil
}

// Release drops job's "sending" claim so it can be tried again.
func (m *Markers) Release(ctx context.Context, job delivery.Job) error {
	if err := m.release.Run(ctx, m.rdb, []string{job.MarkerKey()}).Err(); err != nil {
		return fmt.Errorf("release marker: %w", classify(err))
	}
	return nil
}

// classify marks err with delivery.ErrUnavailable unless Redis answered it
// with a refusal of the command itself (a marker key holding the wrong type,
// say), which fails the same way every time and is left unmarked. No answer
// (a connection error, a timeout, a closed pool) and the answers of a Redis
// that is loading, read-only or failing over are the server being down.
func classify(err error) error {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		refusal := true
		for _, prefix := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS", "NOSCRIPT"} {
			if strings.HasPrefix(rerr.Error(), prefix) {
				refusal = false
			}
		}
		if refusal {
			return err
		}
	}
	return fmt.Errorf("%w: %w", delivery.ErrUnavailable, err)
}
