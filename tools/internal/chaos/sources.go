package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// row is one applications row in MySQL.
type row struct {
	Email  string
	Status string
	Rank   int64
}

// prefixRows returns the MySQL rows of the run's participants, by email.
func (s *Stack) prefixRows(ctx context.Context, prefix string) (map[string][]row, error) {
	rows, err := s.DB.QueryContext(ctx,
		"SELECT email, status, `rank` FROM applications WHERE event_id = ? AND email LIKE ?", s.EventID, prefix+"%")
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	defer rows.Close()
	out := map[string][]row{}
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.Email, &x.Status, &x.Rank); err != nil {
			return nil, fmt.Errorf("mysql: %w", err)
		}
		x.Email = strings.ToLower(x.Email)
		out[x.Email] = append(out[x.Email], x)
	}
	return out, rows.Err()
}

// eventCounts returns the event's SUCCESS and FAILURE rows in MySQL.
func (s *Stack) eventCounts(ctx context.Context) (winners, losers int64, err error) {
	rows, err := s.DB.QueryContext(ctx, "SELECT status, COUNT(*) FROM applications WHERE event_id = ? GROUP BY status", s.EventID)
	if err != nil {
		return 0, 0, fmt.Errorf("mysql: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return 0, 0, err
		}
		switch st {
		case "SUCCESS":
			winners = n
		case "FAILURE":
			losers = n
		}
	}
	return winners, losers, rows.Err()
}

// totalStockMySQL is events.total_stock (written by stock-consumer from the
// admin topic).
func (s *Stack) totalStockMySQL(ctx context.Context) (int64, error) {
	var n int64
	err := s.DB.QueryRowContext(ctx, "SELECT total_stock FROM events WHERE id = ?", s.EventID).Scan(&n)
	return n, err
}

// hmget reads fields of a hash in chunks; missing fields are "".
func (s *Stack) hmget(ctx context.Context, key string, fields []string) (map[string]string, error) {
	out := make(map[string]string, len(fields))
	const chunk = 1000
	for i := 0; i < len(fields); i += chunk {
		part := fields[i:min(i+chunk, len(fields))]
		vals, err := s.Redis.HMGet(ctx, key, part...).Result()
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		for k, v := range vals {
			if str, ok := v.(string); ok {
				out[part[k]] = str
			}
		}
	}
	return out, nil
}

// counters are the event's Redis counters.
type counters struct {
	Total, Remaining, Winners, Losers int64
	Exists                            bool
}

func (s *Stack) redisCounters(ctx context.Context) (counters, error) {
	vals, err := s.Redis.MGet(ctx, s.Keys.Total, s.Keys.Remaining, s.Keys.Winners, s.Keys.Losers, s.Keys.State).Result()
	if err != nil {
		return counters{}, fmt.Errorf("redis: %w", err)
	}
	num := func(v any) int64 {
		str, _ := v.(string)
		n, _ := strconv.ParseInt(str, 10, 64)
		return n
	}
	return counters{Total: num(vals[0]), Remaining: num(vals[1]), Winners: num(vals[2]), Losers: num(vals[3]), Exists: vals[4] != nil}, nil
}

// DeleteEventKeys deletes every farewell:{event}:* key (SCAN, then DEL) and
// returns how many there were.
func (s *Stack) DeleteEventKeys(ctx context.Context) (int, error) {
	var keys []string
	iter := s.Redis.Scan(ctx, 0, "farewell:{"+s.EventID+"}:*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	return len(keys), s.Redis.Del(ctx, keys...).Err()
}

// consumerGroup is stock-consumer's group id.
func (s *Stack) consumerGroup() string {
	return envOr(s.Env, "FAREWELL_CONSUMER_GROUP", "farewell-stock-consumer")
}

func filterGroup(lags []Lag, group string) []Lag {
	if group == "" {
		return lags
	}
	var out []Lag
	for _, l := range lags {
		if l.Group == group {
			out = append(out, l)
		}
	}
	return out
}

// consumerRebuilds reads farewell_redis_rebuilds_total from stock-consumer's
// metrics (-1 when unavailable).
func (s *Stack) consumerRebuilds(ctx context.Context) float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.componentNamed("stock-consumer-1").Addr()+"/metrics", nil)
	if err != nil {
		return -1
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "farewell_redis_rebuilds_total ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "farewell_redis_rebuilds_total")), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}
