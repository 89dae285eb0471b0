package delivery

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values for failures and poison.
const (
	failureTemporary = "temporary"
	failurePermanent = "permanent"
	poisonInvalid    = "invalid_message"
	poisonPermanent  = "smtp_permanent"
	poisonRender     = "render"
)

// Metrics counts what the handlers did, by kind of email. Labels never
// carry addresses, codes or bodies.
type Metrics struct {
	sentVec      *prometheus.CounterVec
	failedVec    *prometheus.CounterVec
	retriedVec   *prometheus.CounterVec
	duplicateVec *prometheus.CounterVec
	skippedVec   *prometheus.CounterVec
	inFlightVec  *prometheus.CounterVec
	poisonVec    *prometheus.CounterVec
}

// NewMetrics registers the notifier's metrics on reg; both handlers share them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "farewell_notifier_" + name, Help: help}, append([]string{"kind"}, labels...))
	}
	m := &Metrics{
		sentVec:      counter("emails_sent_total", "Emails accepted by the SMTP server."),
		failedVec:    counter("emails_failed_total", "Emails given up in a batch, by reason (temporary: batch retried; permanent: dead-lettered).", "reason"),
		retriedVec:   counter("email_retries_total", "In-batch retries after a temporary SMTP failure."),
		duplicateVec: counter("duplicates_skipped_total", "Messages skipped because their email was already sent."),
		skippedVec:   counter("emails_skipped_total", "Valid messages that need no email, by reason.", "reason"),
		inFlightVec:  counter("emails_in_flight_elsewhere_total", "Messages whose email another consumer was sending; the batch was retried."),
		poisonVec:    counter("dead_lettered_total", "Messages handed to the dead-letter topic, by reason.", "reason"),
	}
	for _, c := range []prometheus.Collector{m.sentVec, m.failedVec, m.retriedVec, m.duplicateVec, m.skippedVec, m.inFlightVec, m.poisonVec} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register notifier metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) sent(k Kind)      { m.sentVec.WithLabelValues(string(k)).Inc() }
func (m *Metrics) retried(k Kind)   { m.retriedVec.WithLabelValues(string(k)).Inc() }
func (m *Metrics) duplicate(k Kind) { m.duplicateVec.WithLabelValues(string(k)).Inc() }
func (m *Metrics) inFlight(k Kind)  { m.inFlightVec.WithLabelValues(string(k)).Inc() }
func (m *Metrics) failed(k Kind, reason string) {
	m.failedVec.WithLabelValues(string(k), reason).Inc()
}
func (m *Metrics) skipped(k Kind, reason SkipReason) {
	m.skippedVec.WithLabelValues(string(k), string(reason)).Inc()
}
func (m *Metrics) poisoned(k Kind, reason string) {
	m.poisonVec.WithLabelValues(string(k), reason).Inc()
}
