package decision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// EventSettings is an event's configuration as persisted in MySQL.
type EventSettings struct {
	TotalStock int64
	OpensAt    time.Time
	ClosesAt   time.Time
	// StockVersion and WindowVersion number the last admin change of each
	// kind; a rebuild restores them so later changes keep counting upwards.
	StockVersion  int64
	WindowVersion int64
}

// ChangeKind names the kind of an admin change.
type ChangeKind string

// The admin change kinds.
const (
	StockChange  ChangeKind = "stock"
	WindowChange ChangeKind = "window"
)

// State decides applications atomically in the live state (Redis).
type State interface {
	// Decide returns ErrNeedsRebuild when the event's state is missing,
	// restored under an older epoch than persisted's, or behind it.
	Decide(ctx context.Context, eventID string, apps []Application, persisted Watermark) (Decided, error)
	// BeginRebuild drops the state and decisions for a rebuild under epoch;
	// false means a rebuild under this or a newer epoch is already on.
	BeginRebuild(ctx context.Context, eventID string, epoch int64) (bool, error)
	// RebuildInProgress reports whether another rebuild holds a live lease.
	RebuildInProgress(ctx context.Context, eventID string) (bool, error)
	RestoreDecisions(ctx context.Context, eventID string, ds []Decision) error
	// RestoreCounters finishes the rebuild under epoch; false means a newer
	// rebuild started meanwhile.
	RestoreCounters(ctx context.Context, eventID string, s EventSettings, winners, losers, epoch int64) (bool, error)
	Remaining(ctx context.Context, eventID string) (int64, error)
	// ClaimChange marks an admin change applied, atomically with the
	// gateway's undo: false means the gateway undid it (and answered 503),
	// so it must change nothing.
	ClaimChange(ctx context.Context, eventID string, kind ChangeKind, version int64) (bool, error)
	// LiveSettings brings the live stock and window up to s where the live
	// state holds an older change.
	LiveSettings(ctx context.Context, eventID string, s EventSettings) error
	NeedsRestore(ctx context.Context, eventID string, persisted Watermark) (bool, error)
	// Stranded returns admissions never settled and older than olderThan by
	// the live state's clock.
	Stranded(ctx context.Context, eventID string, olderThan time.Duration, limit int) ([]Application, error)
}

// Repository persists decisions and admin changes (MySQL, the source of truth).
type Repository interface {
	// SaveDecisions persists one event's decisions made under epoch, or
	// refuses them with ErrFenced or ErrStateBehind. It returns the
	// decision log lines it appended in the same transaction.
	SaveDecisions(ctx context.Context, epoch int64, ds []Decision) (LogLines, error)
	Watermark(ctx context.Context, eventID string) (Watermark, error)
	// FenceRebuild takes the next rebuild epoch of the event.
	FenceRebuild(ctx context.Context, eventID string) (int64, error)
	SetWatermark(ctx context.Context, eventID string, epoch, decided, winners int64) error
	// SetStock and SetWindow keep the change with the highest version.
	SetStock(ctx context.Context, eventID string, total, version int64) error
	SetWindow(ctx context.Context, eventID string, opensAt, closesAt time.Time, version int64) error
	Settings(ctx context.Context, eventID string) (EventSettings, error)
	DecisionPage(ctx context.Context, eventID string, afterID int64, limit int) ([]Decision, int64, error)
}

// Announcer publishes decisions and returns once all were acknowledged.
type Announcer interface {
	AnnounceDecisions(ctx context.Context, ds []Decision) error
}

// FaultPoint names a place where a test-only fault can stop the service.
type FaultPoint string

// Fault points between the steps of a batch.
const (
	AfterDecide  FaultPoint = "after-decide"
	AfterPersist FaultPoint = "after-persist"
	AfterPublish FaultPoint = "after-publish"
)

// Options configures a Service.
type Options struct {
	// RebuildPage is how many rows a rebuild reads and writes at a time, so
	// a large event is restored in bounded memory (default 5000).
	RebuildPage int
	Fault       func(FaultPoint)
	// OwnsPartitions reports whether this replica has partitions of the
	// applications topic assigned. A replica without any never decides, so
	// its state watcher neither rebuilds nor sweeps stranded admissions
	// (default: always true).
	OwnsPartitions func() bool
	// Participant hashes an email for the decision log (fairlog.Participant
	// with the deployment's salt); by default the log names nobody.
	Participant func(eventID, email string) string
	// AfterPersist runs after a batch or an admin change was persisted,
	// with the decision log lines it appended (none known for an admin
	// change): the log's copy. A failure there must not fail the batch.
	AfterPersist func(ctx context.Context, eventID string, appended LogLines)
}

// decideAttempts bounds how often one event's batch is decided again in
// place after a fence or a rebuild before the error goes back to the
// consumer loop (which retries the batch later).
const decideAttempts = 5

// Service runs decide → persist → publish for batches of applications,
// persists admin changes, and rebuilds the live state from MySQL.
type Service struct {
	state       State
	repo        Repository
	announce    Announcer
	rebuildPage int
	log         *slog.Logger
	metrics     *metrics
	// fault, when set, is called at each FaultPoint; a test build makes it
	// crash the process to prove replays converge.
	fault func(FaultPoint)
	owns  func() bool
	// participant and afterPersist: see Options.
	participant  func(eventID, email string) string
	afterPersist func(ctx context.Context, eventID string, appended LogLines)
	// mu runs this process's batches, sweeps and rebuilds one at a time.
	// Correctness across processes does not rest on it but on the epoch
	// fence in MySQL; it only keeps one process from fencing itself.
	mu sync.Mutex
}

type metrics struct {
	decisions *prometheus.CounterVec
	remaining *prometheus.GaugeVec
	rebuilds  prometheus.Counter
	refused   *prometheus.CounterVec
	persisted prometheus.Histogram
	// phases splits a batch's time: where a drain spends it.
	phases *prometheus.HistogramVec
	// adminSkipped counts admin changes not persisted because the gateway
	// had undone them.
	adminSkipped *prometheus.CounterVec
}

// phase records the time since began under phase and returns now.
func (m *metrics) phase(phase string, began time.Time) time.Time {
	now := time.Now()
	m.phases.WithLabelValues(phase).Observe(now.Sub(began).Seconds())
	return now
}

// NewService wires a service and registers its metrics.
func NewService(st State, r Repository, a Announcer, opts Options, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if st == nil || r == nil || a == nil || log == nil {
		return nil, errors.New("decision: state, repository, announcer and logger are required")
	}
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
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farewell_decision_batches_refused_total",
			Help: "Batches decided in Redis whose MySQL insert was refused and that were decided again: fenced by a rebuild, or Redis behind MySQL.",
		}, []string{"reason"}),
		persisted: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "farewell_decision_persist_seconds", Help: "Time to decide, persist and publish one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "farewell_decision_phase_seconds",
			Help:    "Time one batch spends in each step: watermark (MySQL read), decide (Redis script), persist (MySQL transaction), log_copy (the decision log's copy to Redis), publish (decisions to Kafka).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"phase"}),
		adminSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farewell_admin_changes_skipped_total",
			Help: "Admin changes delivered after their gateway had undone them (answered 503), by kind; they change nothing.",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.remaining, m.rebuilds, m.refused, m.persisted, m.phases, m.adminSkipped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register decision metrics: %w", err)
		}
	}
	rebuildPage := opts.RebuildPage
	if rebuildPage <= 0 {
		rebuildPage = 5000
	}
	fault := opts.Fault
	if fault == nil {
		fault = func(FaultPoint) {}
	}
	owns := opts.OwnsPartitions
	if owns == nil {
		owns = func() bool { return true }
	}
	participant := opts.Participant
	if participant == nil {
		participant = func(string, string) string { return "" }
	}
	afterPersist := opts.AfterPersist
	if afterPersist == nil {
		afterPersist = func(context.Context, string, LogLines) {}
	}
	return &Service{state: st, repo: r, announce: a, rebuildPage: rebuildPage, log: log, metrics: m, fault: fault, owns: owns,
		participant: participant, afterPersist: afterPersist}, nil
}

// DecideApplications decides a batch of applications in log order, one
// event at a time. It returns once every decision is persisted and
// published; on error nothing may be acknowledged, and a replay of the
// batch converges to the same outcome.
func (s *Service) DecideApplications(ctx context.Context, apps []Application) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	for _, eb := range SplitByEvent(apps) {
		if err := s.decideEvent(ctx, eb); err != nil {
			return err
		}
	}
	s.metrics.persisted.Observe(time.Since(start).Seconds())
	return nil
}

// SetStock persists an admin's stock change; an older version than the one
// recorded changes nothing. See adminChange for the steps.
func (s *Service) SetStock(ctx context.Context, eventID string, total, version int64) error {
	return s.adminChange(ctx, eventID, StockChange, version, func() error {
		return s.repo.SetStock(ctx, eventID, total, version)
	})
}

// SetWindow persists an admin's window change (zero times clear it); an
// older version than the one recorded changes nothing.
func (s *Service) SetWindow(ctx context.Context, eventID string, opensAt, closesAt time.Time, version int64) error {
	return s.adminChange(ctx, eventID, WindowChange, version, func() error {
		return s.repo.SetWindow(ctx, eventID, opensAt, closesAt, version)
	})
}

// adminChange claims the change in Redis (skipped, and counted, when the
// gateway undid it), persists it, and then brings Redis up to what MySQL
// holds. The last step comes after the persist so that a rebuild running
// in between (restoring MySQL's older settings) is repaired by it; a crash
// in between replays the message, and every step is idempotent.
func (s *Service) adminChange(ctx context.Context, eventID string, kind ChangeKind, version int64, persist func() error) error {
	ok, err := s.state.ClaimChange(ctx, eventID, kind, version)
	if err != nil {
		return err
	}
	if !ok {
		s.metrics.adminSkipped.WithLabelValues(string(kind)).Inc()
		s.log.Warn("admin change skipped: the gateway undid it", "event", eventID, "kind", kind, "version", version)
		return nil
	}
	if err := persist(); err != nil {
		return err
	}
	s.afterPersist(ctx, eventID, LogLines{})
	settings, err := s.repo.Settings(ctx, eventID)
	if err != nil {
		return err
	}
	return s.state.LiveSettings(ctx, eventID, settings)
}

// decideEvent runs decide → persist → publish for one event's applications.
// The decision is checked against MySQL twice: before it, Redis's counters
// must not be behind MySQL's watermark (else the state is rebuilt first);
// at the insert, the rebuild epoch must not have moved since and the
// decisions must agree with the stored ones (else nothing is written and
// the batch is decided again, on the rebuilt state).
func (s *Service) decideEvent(ctx context.Context, eb EventBatch) error {
	var (
		unique, ds []Decision
		appended   LogLines
	)
	for attempt := 1; ; attempt++ {
		if attempt > decideAttempts {
			// Rebuilds kept moving the state: a condition of the servers, not
			// of these messages, so the batch is retried, never dead-lettered.
			return fmt.Errorf("decide %d applications of %s: %w: state kept changing underneath (%d attempts)", len(eb.Apps), eb.EventID, ErrUnavailable, decideAttempts)
		}
		began := time.Now()
		persisted, err := s.repo.Watermark(ctx, eb.EventID)
		if err != nil {
			return err
		}
		began = s.metrics.phase("watermark", began)
		decided, err := s.state.Decide(ctx, eb.EventID, eb.Apps, persisted)
		began = s.metrics.phase("decide", began)
		if errors.Is(err, ErrNeedsRebuild) {
			if err := s.rebuild(ctx, eb.EventID); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		s.fault(AfterDecide)
		ds = decided.Decisions
		unique = uniqueByEmail(ds)
		for i := range unique {
			unique[i].Participant = s.participant(unique[i].EventID, unique[i].Email)
		}
		appended, err = s.repo.SaveDecisions(ctx, decided.Epoch, unique)
		s.metrics.phase("persist", began)
		switch {
		case errors.Is(err, ErrFenced):
			s.metrics.refused.WithLabelValues("fenced").Inc()
			s.log.Warn("batch fenced by a rebuild; deciding it again", "event", eb.EventID, "size", len(unique), "err", err)
			continue
		case errors.Is(err, ErrStateBehind):
			s.metrics.refused.WithLabelValues("behind").Inc()
			s.log.Warn("redis decided on a view older than mysql; rebuilding and deciding again", "event", eb.EventID, "err", err)
			if err := s.rebuild(ctx, eb.EventID); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		break
	}
	s.fault(AfterPersist)
	began := time.Now()
	s.afterPersist(ctx, eb.EventID, appended)
	began = s.metrics.phase("log_copy", began)
	if err := s.announce.AnnounceDecisions(ctx, unique); err != nil {
		return fmt.Errorf("publish %d decisions: %w", len(unique), err)
	}
	s.metrics.phase("publish", began)
	s.fault(AfterPublish)
	w, l := Winners(ds)
	s.metrics.decisions.WithLabelValues(string(Success)).Add(float64(w))
	s.metrics.decisions.WithLabelValues(string(Failure)).Add(float64(l))
	if rem, err := s.state.Remaining(ctx, eb.EventID); err == nil {
		s.metrics.remaining.WithLabelValues(eb.EventID).Set(float64(rem))
	}
	return nil
}

// rebuild restores an event's Redis state from MySQL, the source of truth.
// It first takes a new epoch in MySQL, which waits for the inserts in
// flight and refuses every batch decided before it; then it drops the state
// and decisions in Redis, writes the persisted decisions back page by page,
// and finally the counters and the epoch (which mark the state loaded). A
// rebuild that a newer one overtook leaves the work to it. While another
// replica's rebuild holds its lease, this one waits for it instead of
// overtaking it (two deciding replicas would otherwise keep restarting
// each other's rebuild of a large event); the caller then decides again,
// and rebuilds itself if that rebuild died unfinished.
func (s *Service) rebuild(ctx context.Context, eventID string) error {
	for waited := false; ; waited = true {
		busy, err := s.state.RebuildInProgress(ctx, eventID)
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", eventID, err)
		}
		if !busy && waited {
			return nil
		}
		if !busy {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	start := time.Now()
	epoch, err := s.repo.FenceRebuild(ctx, eventID)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", eventID, err)
	}
	began, err := s.state.BeginRebuild(ctx, eventID, epoch)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", eventID, err)
	}
	if !began {
		s.log.Info("a newer rebuild is on; leaving it to that one", "event", eventID, "epoch", epoch)
		return nil
	}
	settings, err := s.repo.Settings(ctx, eventID)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", eventID, err)
	}
	var winners, losers, after int64
	for {
		page, last, err := s.repo.DecisionPage(ctx, eventID, after, s.rebuildPage)
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", eventID, err)
		}
		if len(page) == 0 {
			break
		}
		if err := s.state.RestoreDecisions(ctx, eventID, page); err != nil {
			return fmt.Errorf("rebuild %s: %w", eventID, err)
		}
		w, l := Count(page)
		winners += w
		losers += l
		after = last
	}
	if err := s.repo.SetWatermark(ctx, eventID, epoch, winners+losers, winners); err != nil {
		return fmt.Errorf("rebuild %s: %w", eventID, err)
	}
	restored, err := s.state.RestoreCounters(ctx, eventID, settings, winners, losers, epoch)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", eventID, err)
	}
	s.metrics.rebuilds.Inc()
	s.log.Warn("event state rebuilt in redis from mysql", "event", eventID, "epoch", epoch, "total_stock", settings.TotalStock,
		"winners", winners, "losers", losers, "counters_restored", restored, "took", time.Since(start).String())
	return nil
}

// EnsureState rebuilds eventID's Redis state if Redis lost it, or part of
// it (its counters are behind MySQL's watermark), or loads a new event.
func (s *Service) EnsureState(ctx context.Context, eventID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	persisted, err := s.repo.Watermark(ctx, eventID)
	if err != nil {
		return err
	}
	missing, err := s.state.NeedsRestore(ctx, eventID, persisted)
	if err != nil {
		return err
	}
	if !missing {
		return nil
	}
	return s.rebuild(ctx, eventID)
}

// DecideStranded decides admissions whose publish was never settled and that
// are older than strandedAfter: a gateway crashed between admitting and
// publishing them. Without this they would stay PENDING forever once the
// event sold out (the gateways then answer from memory and never take the
// admission over). A later copy from Kafka is a replay and changes nothing.
func (s *Service) DecideStranded(ctx context.Context, eventID string, strandedAfter time.Duration) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	apps, err := s.state.Stranded(ctx, eventID, strandedAfter, 500)
	if err != nil || len(apps) == 0 {
		return 0, err
	}
	if err := s.decideEvent(ctx, EventBatch{EventID: eventID, Apps: apps}); err != nil {
		return 0, fmt.Errorf("decide stranded admissions: %w", err)
	}
	s.log.Warn("decided admissions that were never published", "event", eventID, "count", len(apps))
	return len(apps), nil
}

// WatchState runs every interval until ctx ends: it rebuilds the event's
// Redis state if Redis lost it (the gateways refuse applications meanwhile,
// so no traffic would trigger it) and decides stranded admissions. It does
// neither while this replica owns no partition of the applications topic:
// such a replica decides nothing, so it has nothing to rebuild for.
func (s *Service) WatchState(ctx context.Context, eventID string, interval, strandedAfter time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if !s.owns() {
				continue
			}
			if err := s.EnsureState(ctx, eventID); err != nil && ctx.Err() == nil {
				s.log.Warn("event state check failed; will retry", "event", eventID, "err", err)
				continue
			}
			if _, err := s.DecideStranded(ctx, eventID, strandedAfter); err != nil && ctx.Err() == nil {
				s.log.Warn("stranded admissions not decided; will retry", "event", eventID, "err", err)
			}
		}
	}
}

func uniqueByEmail(ds []Decision) []Decision {
	seen := make(map[string]bool, len(ds))
	out := make([]Decision, 0, len(ds))
	for _, d := range ds {
		if seen[d.Email] {
			continue
		}
		seen[d.Email] = true
		out = append(out, d)
	}
	return out
}
