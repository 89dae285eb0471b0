package bench

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	// The MySQL driver for database/sql; gorm's driver uses the same one.
	_ "github.com/go-sql-driver/mysql"
)

// Metrics scrapes a service's Prometheus text endpoint.
type Metrics struct {
	URL  string
	HTTP *http.Client
}

// ConsumerFigures are the stock-consumer gauges the bench follows.
type ConsumerFigures struct {
	Lag       int64   // farewell_kafka_consumer_lag summed over the topic's partitions
	Decisions float64 // farewell_decisions_total summed over outcomes
}

// Consumer reads lag of topic and the decision counter.
func (m *Metrics) Consumer(ctx context.Context, topic string) (ConsumerFigures, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL, nil)
	if err != nil {
		return ConsumerFigures{}, err
	}
	resp, err := m.HTTP.Do(req)
	if err != nil {
		return ConsumerFigures{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ConsumerFigures{}, fmt.Errorf("%s: %s", m.URL, resp.Status)
	}
	var f ConsumerFigures
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
		}
	}
	return f, sc.Err()
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
// persisted, and how many of them won. The unique (event_id, email) index
// makes the prefix a range scan.
func (d *Decisions) Count(ctx context.Context, prefix string) (total, winners int64, err error) {
	err = d.db.QueryRowContext(ctx,
		"SELECT COUNT(*), COALESCE(SUM(status = 'SUCCESS'), 0) FROM applications WHERE event_id = ? AND email LIKE ?",
		d.event, prefix+"%").Scan(&total, &winners)
	return total, winners, err
}
