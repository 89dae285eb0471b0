package bench

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	// The MySQL driver for database/sql; gorm's driver uses the same one.
	_ "github.com/go-sql-driver/mysql"
)

// Metrics scrapes a service's Prometheus text endpoints: URL may list
// several, comma-separated (every instance of the service), and their
// figures are summed.
type Metrics struct {
	URL  string
	HTTP *http.Client
}

// ConsumerFigures are the stock-consumer gauges the bench follows.
type ConsumerFigures struct {
	Lag       int64   // farewell_kafka_consumer_lag summed over the topic's partitions
	Decisions float64 // farewell_decisions_total summed over outcomes
	// Batches and BatchMessages are farewell_kafka_consumer_batch_size's count
	// and sum for the topic; BatchSeconds is farewell_decision_persist_seconds_sum
	// (deciding, persisting and publishing batches).
	Batches, BatchMessages, BatchSeconds float64
	// PhaseSeconds is farewell_decision_phase_seconds_sum by phase.
	PhaseSeconds map[string]float64
	// DecisionsAt is Decisions per endpoint that answered (host:port), so
	// a run can say which replicas decided.
	DecisionsAt map[string]float64
}

// phaseSample is the metric line prefix of a phase's time sum.
const phaseSample = `farewell_decision_phase_seconds_sum{phase="`

// Consumer reads lag of topic and the decision counter, summed over every
// instance that answers (an error only when none does). A member that lost
// its partition keeps reporting its last lag until it gets one again.
func (m *Metrics) Consumer(ctx context.Context, topic string) (ConsumerFigures, error) {
	sum := ConsumerFigures{PhaseSeconds: map[string]float64{}, DecisionsAt: map[string]float64{}}
	var firstErr error
	answered := false
	for _, u := range strings.Split(m.URL, ",") {
		u = strings.TrimSpace(u)
		f, err := m.consumerAt(ctx, u, topic)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		answered = true
		sum.Lag += f.Lag
		sum.Decisions += f.Decisions
		sum.DecisionsAt[endpointHost(u)] += f.Decisions
		sum.Batches += f.Batches
		sum.BatchMessages += f.BatchMessages
		sum.BatchSeconds += f.BatchSeconds
		for k, v := range f.PhaseSeconds {
			sum.PhaseSeconds[k] += v
		}
	}
	if !answered {
		return ConsumerFigures{}, firstErr
	}
	return sum, nil
}

func (m *Metrics) consumerAt(ctx context.Context, endpoint, topic string) (ConsumerFigures, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return ConsumerFigures{}, err
	}
	resp, err := m.HTTP.Do(req)
	if err != nil {
		return ConsumerFigures{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ConsumerFigures{}, fmt.Errorf("%s: %s", endpoint, resp.Status)
	}
	f := ConsumerFigures{PhaseSeconds: map[string]float64{}}
	topicLabel := `topic="` + topic + `"`
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "farewell_kafka_consumer_lag{") && strings.Contains(line, topicLabel):
			f.Lag += int64(sampleValue(line))
		case strings.HasPrefix(line, "farewell_decisions_total{"):
			f.Decisions += sampleValue(line)
		case strings.HasPrefix(line, "farewell_kafka_consumer_batch_size_count{") && strings.Contains(line, topicLabel):
			f.Batches += sampleValue(line)
		case strings.HasPrefix(line, "farewell_kafka_consumer_batch_size_sum{") && strings.Contains(line, topicLabel):
			f.BatchMessages += sampleValue(line)
		case strings.HasPrefix(line, "farewell_decision_persist_seconds_sum"):
			f.BatchSeconds += sampleValue(line)
		case strings.HasPrefix(line, phaseSample):
			if phase, _, ok := strings.Cut(line[len(phaseSample):], `"`); ok {
				f.PhaseSeconds[phase] += sampleValue(line)
			}
		}
	}
	return f, sc.Err()
}

// endpointHost is the host:port of a metrics URL (the URL itself when it
// does not parse).
func endpointHost(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}

func sampleValue(line string) float64 {
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(line[i+1:], 64)
	return v
}

// Decisions counts a run's persisted applications in MySQL.
type Decisions struct {
	db    *sql.DB
	event string
}

// OpenDecisions connects with the stack's DSN (FAREWELL_MYSQL_DSN).
func OpenDecisions(dsn, event string) (*Decisions, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	db.SetMaxOpenConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: %w", err)
	}
	return &Decisions{db: db, event: event}, nil
}

// Close closes the pool.
func (d *Decisions) Close() error { return d.db.Close() }

// Count returns how many applications with emails starting with prefix are
// persisted. It reads only the unique (event_id, email) index: a range scan.
func (d *Decisions) Count(ctx context.Context, prefix string) (int64, error) {
	var n int64
	err := d.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM applications WHERE event_id = ? AND email LIKE ?", d.event, prefix+"%").Scan(&n)
	return n, err
}

// Winners returns how many of them won.
func (d *Decisions) Winners(ctx context.Context, prefix string) (int64, error) {
	var n int64
	err := d.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM applications WHERE event_id = ? AND email LIKE ? AND status = 'SUCCESS'", d.event, prefix+"%").Scan(&n)
	return n, err
}

// DecidedSpan returns the first and last decided_at of those applications
// (of the winners only, if winners), as stamped by stock-consumer.
func (d *Decisions) DecidedSpan(ctx context.Context, prefix string, winners bool) (first, last time.Time, err error) {
	q := "SELECT MIN(decided_at), MAX(decided_at) FROM applications WHERE event_id = ? AND email LIKE ?"
	if winners {
		q += " AND status = 'SUCCESS'"
	}
	var f, l sql.NullTime
	err = d.db.QueryRowContext(ctx, q, d.event, prefix+"%").Scan(&f, &l)
	return f.Time, l.Time, err
}

// MailpitSearch reads Mailpit's search API.
type MailpitSearch struct {
	URL  string
	HTTP *http.Client
}

// Newest returns how many messages match query and when Mailpit received the
// newest of them (search results come newest first).
func (m MailpitSearch) Newest(ctx context.Context, query string) (int, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/api/v1/search?limit=1&query="+url.QueryEscape(query), nil)
	if err != nil {
		return 0, time.Time{}, err
	}
	resp, err := m.HTTP.Do(req)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("mailpit: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Total    int `json:"messages_count"`
		Messages []struct {
			Created time.Time `json:"Created"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, time.Time{}, fmt.Errorf("mailpit: %w", err)
	}
	var newest time.Time
	if len(out.Messages) > 0 {
		newest = out.Messages[0].Created
	}
	return out.Total, newest, nil
}

// gcFigures are a Go process's cumulative CPU seconds, used (available
// minus idle) and GC's, from runtime/metrics (/cpu/classes/total, /idle and
// /gc/total).
type gcFigures struct {
	gc, total float64
	ok        bool
}

// readGC sums the GC and total CPU estimates of every target; ok is false
// when any of them did not answer or does not export them.
func readGC(ctx context.Context, targets []*Metrics) gcFigures {
	var f gcFigures
	if len(targets) == 0 {
		return f
	}
	f.ok = true
	for _, m := range targets {
		gc, total, err := m.gcCPU(ctx) // total: used CPU
		if err != nil || total == 0 {
			f.ok = false
			continue
		}
		f.gc += gc
		f.total += total
	}
	return f
}

func (m *Metrics) gcCPU(ctx context.Context) (gc, total float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := m.HTTP.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var idle float64
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "go_cpu_classes_gc_total_cpu_seconds_total "):
			gc = sampleValue(line)
		case strings.HasPrefix(line, "go_cpu_classes_idle_cpu_seconds_total "):
			idle = sampleValue(line)
		case strings.HasPrefix(line, "go_cpu_classes_total_cpu_seconds_total "):
			total = sampleValue(line)
		}
	}
	return gc, total - idle, sc.Err()
}

// LoadAverage is the machine's 1-minute load average (/proc/loadavg), 0 if
// unreadable.
func LoadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
