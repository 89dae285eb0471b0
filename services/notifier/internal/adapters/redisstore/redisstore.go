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
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	opts           MarkerOptions
	unconfirmed    prometheus.Counter
}

// Now is Redis's clock (TIME): the one auth stamps code expiry with.
func (m *Markers) Now(ctx context.Context) (time.Time, error) {
	t, err := m.rdb.Time(ctx).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("redis time: %w", err)
	}
	return t, nil
}

// MarkerOptions say how far a "sent" marker must be replicated.
type MarkerOptions struct {
	// Replicas is how many replicas must acknowledge a "sent" marker (Redis
	// WAIT, on the connection that wrote it); 0 does not wait.
	Replicas int
	// WaitTimeout bounds that wait; a marker still unconfirmed then is kept
	// (the primary has it) and counted in
	// farewell_notifier_sent_markers_unreplicated_total.
	WaitTimeout time.Duration
	// Registerer receives that counter (nil: not exported).
	Registerer prometheus.Registerer
}

var _ delivery.MarkerStore = (*Markers)(nil)

// NewMarkers loads the marker scripts into Redis.
func NewMarkers(ctx context.Context, rdb redis.Cmdable, opts MarkerOptions) (*Markers, error) {
	if opts.Replicas > 0 && opts.WaitTimeout <= 0 {
		return nil, errors.New("markers: waiting for replicas needs a timeout")
	}
	unconfirmed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "farewell_notifier_sent_markers_unreplicated_total",
		Help: "Sent markers fewer Redis replicas acknowledged than FAREWELL_NOTIFIER_MARKER_REPLICAS within the wait (a failover may forget them).",
	})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(unconfirmed); err != nil {
			return nil, fmt.Errorf("markers: %w", err)
		}
	}
	claim, err := redisx.LoadScript(ctx, rdb, scriptFiles, "lua/claim.lua")
	if err != nil {
		return nil, fmt.Errorf("markers: %w", err)
	}
	release, err := redisx.LoadScript(ctx, rdb, scriptFiles, "lua/release.lua")
	if err != nil {
		return nil, fmt.Errorf("markers: %w", err)
	}
	return &Markers{rdb: rdb, claim: claim, release: release, opts: opts, unconfirmed: unconfirmed}, nil
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

// MarkSent records that job's email was accepted by the SMTP server. With
// Replicas set, the SET and a WAIT go down one connection (WAIT counts the
// replicas that have that connection's writes), so the marker is on a
// replica before the batch's offset is marked: a Sentinel failover then
// promotes a Redis that still knows the email went out.
func (m *Markers) MarkSent(ctx context.Context, job delivery.Job) error {
	if m.opts.Replicas == 0 {
		if err := m.rdb.Set(ctx, job.MarkerKey(), "sent", job.SentTTL()).Err(); err != nil {
			return fmt.Errorf("mark sent: %w", classify(err))
		}
		return nil
	}
	var wait *redis.Cmd
	_, err := m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, job.MarkerKey(), "sent", job.SentTTL())
		wait = p.Do(ctx, "WAIT", m.opts.Replicas, m.opts.WaitTimeout.Milliseconds())
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark sent: %w", classify(err))
	}
	if acked, _ := wait.Int64(); acked < int64(m.opts.Replicas) {
		m.unconfirmed.Inc()
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
