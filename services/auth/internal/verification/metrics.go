package verification

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a code request was refused (label values, never user data).
const (
	refusedInvalidEmail  = "invalid_email"
	refusedStoreError    = "store_error"
	refusedPublishFailed = "publish_failed"
)

// Outcomes of a verify call (label values).
const (
	outcomeSuccess      = "success"
	outcomeInvalidEmail = "invalid_email"
	outcomeMalformed    = "malformed_code"
	outcomeRateLimited  = "rate_limited"
	outcomeNoCode       = "no_code"
	outcomeWrongCode    = "wrong_code"
	outcomeBurned       = "burned"
	outcomeExhausted    = "exhausted"
	outcomeAlreadyUsed  = "already_used"
	outcomeError        = "error"
)

type metrics struct {
	requested     prometheus.Counter
	refusedVec    *prometheus.CounterVec
	verifications *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "farewell_auth_codes_requested_total",
			Help: "Verification codes issued and published to Kafka.",
		}),
		refusedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farewell_auth_codes_refused_total",
			Help: "Code requests refused, by reason (ip, cooldown, hourly, address, invalid_email, publish_failed, store_error).",
		}, []string{"reason"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farewell_auth_verifications_total",
			Help: "Verify calls by outcome.",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requested, m.refusedVec, m.verifications} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register auth metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) refused(reason string) { m.refusedVec.WithLabelValues(reason).Inc() }

func (m *metrics) verified(outcome string) { m.verifications.WithLabelValues(outcome).Inc() }
