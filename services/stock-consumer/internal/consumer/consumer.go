// Package consumer is stock-consumer's port: it turns Kafka batches into
// decisions (decide in Redis → persist in MySQL → publish decisions) and
// admin changes into MySQL rows. Offsets are marked by pkg/kafka only after
// HandleBatch returned, so a crash at any point replays to the same outcome.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/store"
)

// SchemaVersion is the newest message schema this consumer understands.
const SchemaVersion = 1

// Decider decides applications in Redis.
type Decider interface {
	Decide(ctx context.Context, eventID string, apps []decision.Application, now time.Time) ([]decision.Decision, error)
	RestoreDecisions(ctx context.Context, eventID string, ds []decision.Decision) error
	RestoreCounters(ctx context.Context, eventID string, s store.EventSettings, winners, losers int64) (bool, error)
	Remaining(ctx context.Context, eventID string) (int64, error)
	NeedsRestore(ctx context.Context, eventID string) (bool, error)
	Stranded(ctx context.Context, eventID string, cutoff time.Time, limit int) ([]decision.Application, error)
}

// Repository persists decisions and admin changes.
type Repository interface {
	SaveDecisions(ctx context.Context, ds []decision.Decision) error
	SetStock(ctx context.Context, eventID string, total int64) error
	SetWindow(ctx context.Context, eventID string, opensAt, closesAt time.Time) error
	Settings(ctx context.Context, eventID string) (store.EventSettings, error)
	DecisionPage(ctx context.Context, eventID string, afterID int64, limit int) ([]decision.Decision, int64, error)
}

// Publisher publishes decisions and waits for their acknowledgements.
type Publisher interface {
	PublishAll(ctx context.Context, msgs []kafka.Message) error
}

// FaultPoint names a place where a test-only fault can stop the handler.
type FaultPoint string

// Fault points between the steps of a batch.
const (
	AfterDecide  FaultPoint = "after-decide"
	AfterPersist FaultPoint = "after-persist"
	AfterPublish FaultPoint = "after-publish"
)

// Handler handles the applications and admin topics.
type Handler struct {
	decider        Decider
	repo           Repository
	pub            Publisher
	decisionsTopic string
	adminTopic     string
	rebuildPage    int
	log            *slog.Logger
	metrics        *metrics
	// fault, when set, is called at each FaultPoint; a test build makes it
	// crash the process to prove replays converge.
	fault func(FaultPoint)
	now   func() time.Time
	// mu keeps a rebuild from reading MySQL while a batch of this process is
	// between its Redis decision and its MySQL insert: the snapshot would
	// miss those winners and the restored counters would oversell.
	mu sync.Mutex
}

var _ kafka.BatchHandler = (*Handler)(nil)

type metrics struct {
	decisions *prometheus.CounterVec
	remaining *prometheus.GaugeVec
	rebuilds  prometheus.Counter
	persisted prometheus.Histogram
}

// Options configures a Handler.
type Options struct {
	DecisionsTopic string
	AdminTopic     string
	// RebuildPage is how many rows a rebuild reads and writes at a time, so
	// a large event is restored in bounded memory (default 5000).
	RebuildPage int
	Fault       func(FaultPoint)
}

// NewHandler wires a handler and registers its metrics.
func NewHandler(d Decider, r Repository, p Publisher, opts Options, log *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farewell_decisions_total", Help: "New decisions by outcome (replays are not counted).",
		}, []string{"outcome"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "farewell_stock_remaining", Help: "Remaining stock after the last decided batch.",
		}, []string{"event"}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "farewell_redis_rebuilds_total", Help: "Times an event's Redis state was rebuilt from MySQL.",
		}),
		persisted: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "farewell_decision_persist_seconds", Help: "Time to decide, persist and publish one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.remaining, m.rebuilds, m.persisted} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register consumer metrics: %w", err)
		}
	}
	rebuildPage := opts.RebuildPage
	if rebuildPage <= 0 {
		rebuildPage = 5000
	}
	if opts.DecisionsTopic == "" || opts.AdminTopic == "" {
		return nil, errors.New("consumer: decisions and admin topics are required")
	}
	fault := opts.Fault
	if fault == nil {
		fault = func(FaultPoint) {}
	}
	return &Handler{decider: d, repo: r, pub: p, decisionsTopic: opts.DecisionsTopic, adminTopic: opts.AdminTopic, rebuildPage: rebuildPage, log: log, metrics: m, fault: fault, now: time.Now}, nil
}

// HandleBatch dispatches on the batch's topic (a batch comes from one partition).
func (h *Handler) HandleBatch(ctx context.Context, msgs []*sarama.ConsumerMessage) ([]kafka.Poison, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	if msgs[0].Topic == h.adminTopic {
		return h.handleAdmin(ctx, msgs)
	}
	return h.handleApplications(ctx, msgs)
}

func (h *Handler) handleApplications(ctx context.Context, msgs []*sarama.ConsumerMessage) ([]kafka.Poison, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	start := time.Now()
	apps := make([]decision.Application, 0, len(msgs))
	var poison []kafka.Poison
	for _, m := range msgs {
		a, err := decodeApplication(m.Value)
		if err != nil {
			poison = append(poison, kafka.Poison{Msg: m, Reason: err.Error(), Attempts: 1})
			continue
		}
		apps = append(apps, a)
	}
	for _, eb := range decision.SplitByEvent(apps) {
		if err := h.decideEvent(ctx, eb); err != nil {
			return nil, err
		}
	}
	h.metrics.persisted.Observe(time.Since(start).Seconds())
	return poison, nil
}

// decideEvent runs decide → persist → publish for one event's applications.
func (h *Handler) decideEvent(ctx context.Context, eb decision.EventBatch) error {
	now := h.now()
	ds, err := h.decider.Decide(ctx, eb.EventID, eb.Apps, now)
	if errors.Is(err, decision.ErrNeedsRebuild) {
		if err := h.rebuild(ctx, eb.EventID); err != nil {
			return err
		}
		ds, err = h.decider.Decide(ctx, eb.EventID, eb.Apps, now)
	}
	if err != nil {
		return err
	}
	h.fault(AfterDecide)
	unique := uniqueByEmail(ds)
	if err := h.repo.SaveDecisions(ctx, unique); err != nil {
		return err
	}
	h.fault(AfterPersist)
	msgs := make([]kafka.Message, 0, len(unique))
	for _, d := range unique {
		v, err := proto.Marshal(decisionMessage(d))
		if err != nil {
			return fmt.Errorf("encode decision: %w", err)
		}
		msgs = append(msgs, kafka.Message{Topic: h.decisionsTopic, Key: d.Email, Value: v})
	}
	if err := h.pub.PublishAll(ctx, msgs); err != nil {
		return fmt.Errorf("publish %d decisions: %w", len(msgs), err)
	}
	h.fault(AfterPublish)
	w, l := decision.Winners(ds)
	h.metrics.decisions.WithLabelValues(string(decision.Success)).Add(float64(w))
	h.metrics.decisions.WithLabelValues(string(decision.Failure)).Add(float64(l))
	if rem, err := h.decider.Remaining(ctx, eb.EventID); err == nil {
		h.metrics.remaining.WithLabelValues(eb.EventID).Set(float64(rem))
	}
	return nil
}

// rebuild restores an event's Redis state from MySQL, the source of truth:
// decisions page by page, then the counters (which mark the state loaded).
func (h *Handler) rebuild(ctx context.Context, eventID string) error {
	start := time.Now()
	settings, err := h.repo.Settings(ctx, eventID)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", eventID, err)
	}
	var winners, losers, after int64
	for {
		page, last, err := h.repo.DecisionPage(ctx, eventID, after, h.rebuildPage)
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", eventID, err)
		}
		if len(page) == 0 {
			break
		}
		if err := h.decider.RestoreDecisions(ctx, eventID, page); err != nil {
			return fmt.Errorf("rebuild %s: %w", eventID, err)
		}
		w, l := decision.Count(page)
		winners += w
		losers += l
		after = last
	}
	restored, err := h.decider.RestoreCounters(ctx, eventID, settings, winners, losers)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", eventID, err)
	}
	h.metrics.rebuilds.Inc()
	h.log.Warn("event state rebuilt in redis from mysql", "event", eventID, "total_stock", settings.TotalStock,
		"winners", winners, "losers", losers, "counters_restored", restored, "took", time.Since(start).String())
	return nil
}

// EnsureState rebuilds eventID's Redis state if Redis lost it (or loads a
// new event); main calls it before consuming.
func (h *Handler) EnsureState(ctx context.Context, eventID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	missing, err := h.decider.NeedsRestore(ctx, eventID)
	if err != nil {
		return err
	}
	if !missing {
		return nil
	}
	return h.rebuild(ctx, eventID)
}

// DecideStranded decides admissions whose publish was never settled and that
// are older than strandedAfter: a gateway crashed between admitting and
// publishing them. Without this they would stay PENDING forever once the
// event sold out (the gateways then answer from memory and never take the
// admission over). A later copy from Kafka is a replay and changes nothing.
func (h *Handler) DecideStranded(ctx context.Context, eventID string, strandedAfter time.Duration) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	apps, err := h.decider.Stranded(ctx, eventID, h.now().Add(-strandedAfter), 500)
	if err != nil || len(apps) == 0 {
		return 0, err
	}
	if err := h.decideEvent(ctx, decision.EventBatch{EventID: eventID, Apps: apps}); err != nil {
		return 0, fmt.Errorf("decide stranded admissions: %w", err)
	}
	h.log.Warn("decided admissions that were never published", "event", eventID, "count", len(apps))
	return len(apps), nil
}

// WatchState runs every interval until ctx ends: it rebuilds the event's
// Redis state if Redis lost it (the gateways refuse applications meanwhile,
// so no traffic would trigger it) and decides stranded admissions.
func (h *Handler) WatchState(ctx context.Context, eventID string, interval, strandedAfter time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := h.EnsureState(ctx, eventID); err != nil && ctx.Err() == nil {
				h.log.Warn("event state check failed; will retry", "event", eventID, "err", err)
				continue
			}
			if _, err := h.DecideStranded(ctx, eventID, strandedAfter); err != nil && ctx.Err() == nil {
				h.log.Warn("stranded admissions not decided; will retry", "event", eventID, "err", err)
			}
		}
	}
}

func uniqueByEmail(ds []decision.Decision) []decision.Decision {
	seen := make(map[string]bool, len(ds))
	out := make([]decision.Decision, 0, len(ds))
	for _, d := range ds {
		if seen[d.Email] {
			continue
		}
		seen[d.Email] = true
		out = append(out, d)
	}
	return out
}

func decodeApplication(b []byte) (decision.Application, error) {
	var m farewellv1.ApplicationSubmitted
	if err := proto.Unmarshal(b, &m); err != nil {
		return decision.Application{}, fmt.Errorf("undecodable application: %w", err)
	}
	switch {
	case m.GetSchemaVersion() == 0 || m.GetSchemaVersion() > SchemaVersion:
		return decision.Application{}, fmt.Errorf("unsupported schema_version %d", m.GetSchemaVersion())
	case m.GetEventId() == "" || len(m.GetEventId()) > 64:
		return decision.Application{}, errors.New("missing or oversized event_id")
	case m.GetEmail() == "" || len(m.GetEmail()) > 254:
		return decision.Application{}, errors.New("missing or oversized email")
	}
	return decision.Application{
		EventID: m.GetEventId(), Email: m.GetEmail(), ApplicationID: m.GetApplicationId(),
		AppliedAt: time.UnixMilli(m.GetAppliedAtUnixMs()),
	}, nil
}

func decisionMessage(d decision.Decision) *farewellv1.ApplicationDecided {
	st := farewellv1.DecisionStatus_DECISION_STATUS_FAILURE
	if d.Status == decision.Success {
		st = farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS
	}
	return &farewellv1.ApplicationDecided{
		SchemaVersion: SchemaVersion, EventId: d.EventID, Email: d.Email, Status: st, Rank: d.Rank,
		DecidedAtUnixMs: d.DecidedAt.UnixMilli(), ApplicationId: d.ApplicationID,
	}
}

func (h *Handler) handleAdmin(ctx context.Context, msgs []*sarama.ConsumerMessage) ([]kafka.Poison, error) {
	var poison []kafka.Poison
	for _, m := range msgs {
		var ev farewellv1.EventAdminChanged
		if err := proto.Unmarshal(m.Value, &ev); err != nil {
			poison = append(poison, kafka.Poison{Msg: m, Reason: "undecodable admin change: " + err.Error(), Attempts: 1})
			continue
		}
		if ev.GetSchemaVersion() == 0 || ev.GetSchemaVersion() > SchemaVersion || ev.GetEventId() == "" {
			poison = append(poison, kafka.Poison{Msg: m, Reason: fmt.Sprintf("unsupported admin change (schema_version %d)", ev.GetSchemaVersion()), Attempts: 1})
			continue
		}
		var err error
		switch c := ev.GetChange().(type) {
		case *farewellv1.EventAdminChanged_StockSet:
			if c.StockSet.GetTotalStock() < 0 {
				poison = append(poison, kafka.Poison{Msg: m, Reason: "negative total stock", Attempts: 1})
				continue
			}
			err = h.repo.SetStock(ctx, ev.GetEventId(), c.StockSet.GetTotalStock())
		case *farewellv1.EventAdminChanged_WindowSet:
			err = h.repo.SetWindow(ctx, ev.GetEventId(), fromMs(c.WindowSet.GetOpensAtUnixMs()), fromMs(c.WindowSet.GetClosesAtUnixMs()))
		default:
			poison = append(poison, kafka.Poison{Msg: m, Reason: "admin change without a known change", Attempts: 1})
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return poison, nil
}

func fromMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
