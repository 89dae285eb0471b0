package admission

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/pkg/fairlog"
)

// Metrics counts applications by outcome.
type Metrics struct {
	applications *prometheus.CounterVec
	// byOutcome holds the counter of every label outcomeLabel returns, so
	// an apply does not hash its label.
	byOutcome map[string]prometheus.Counter
}

// NewMetrics registers the admission metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{applications: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "farewell_applications_total",
		Help: "Apply requests by outcome: accepted, already_applied, sold_out, not_open, busy, unavailable, error.",
	}, []string{"outcome"})}
	if err := reg.Register(m.applications); err != nil {
		return nil, fmt.Errorf("register admission metrics: %w", err)
	}
	m.byOutcome = map[string]prometheus.Counter{}
	for _, o := range []string{"accepted", "already_applied", "sold_out", "not_open", "busy", "unavailable", "error"} {
		m.byOutcome[o] = m.applications.WithLabelValues(o)
	}
	return m, nil
}

// Wrap returns s with every Apply counted.
func (m *Metrics) Wrap(s *Service) *Counted { return &Counted{Service: s, m: m} }

// Counted is a Service whose Apply outcomes are counted.
type Counted struct {
	*Service
	m *Metrics
}

// Apply counts the outcome of Service.Apply.
func (c *Counted) Apply(ctx context.Context, email string) (*fairlog.Receipt, error) {
	r, err := c.Service.Apply(ctx, email)
	c.m.byOutcome[outcomeLabel(err)].Inc()
	return r, err
}

// ApplyFor counts the outcome of Service.ApplyFor.
func (c *Counted) ApplyFor(ctx context.Context, email, delivery string) (*fairlog.Receipt, error) {
	r, err := c.Service.ApplyFor(ctx, email, delivery)
	c.m.byOutcome[outcomeLabel(err)].Inc()
	return r, err
}

func outcomeLabel(err error) string {
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, ErrAlreadyApplied):
		return "already_applied"
	case errors.Is(err, ErrSoldOut):
		return "sold_out"
	case errors.Is(err, ErrNotOpen):
		return "not_open"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	default:
		return "error"
	}
}
