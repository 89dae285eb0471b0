package chaos

import (
	"context"
	"database/sql"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/stackclient"
)

// The concurrent-admin scenario: stock and window changes fired at both
// gateway replicas directly, many at once, during a herd. Every change
// carries a value no other change of the run carries (a total, an opening
// second), so the value the stores end with names the request that won.
// In the middle of the first two rounds stock-consumer is made to rebuild Redis from
// MySQL while changes are in flight (acknowledged, not persisted yet): once
// by dropping the state only, once by deleting every key of the event.

// adminKind is what one admin request tries.
type adminKind int

const (
	stockValid   adminKind = iota // a total above anything the herd can win
	stockRefused                  // a total below the winners so far: STOCK_BELOW_WINNERS
	windowValid                   // an open window with a unique opening second
	windowBad                     // opensAt after closesAt: INVALID_WINDOW
)

// adminCall is one admin request and its answer.
type adminCall struct {
	Kind       adminKind
	Gateway    string
	Value      int64 // the total, or the window's opening in unix seconds
	Start, End time.Time
	HTTP       int
	Code       string
}

// acked reports whether the gateway acknowledged the change.
func (c adminCall) acked() bool { return c.HTTP == http.StatusOK }

// adminState is the event's configuration in one store. In Redis,
// StockVersion and WindowVersion count the changes numbered (undone ones
// included), and LiveStock and LiveWindow are the numbers of the changes
// whose total and window Redis holds; in MySQL all are the persisted ones.
type adminState struct {
	Total, StockVersion   int64
	Opens, WindowVersion  int64 // opening in unix seconds
	LiveStock, LiveWindow int64
	Pending               bool // Redis only: a stock change is in flight
	Loaded                bool // Redis only: the state key is there
	HasWindow, HasVersion bool
}

func (a adminState) String() string {
	return fmt.Sprintf("total %d (v%d), window opens %s (v%d)", a.Total, a.StockVersion, time.Unix(a.Opens, 0).UTC().Format(time.RFC3339), a.WindowVersion)
}

// redisAdminState reads the stock and window as the gateways keep them.
func (s *Stack) redisAdminState(ctx context.Context) (adminState, error) {
	pipe := s.Redis.Pipeline()
	total := pipe.Get(ctx, s.Keys.Total)
	version := pipe.Get(ctx, s.Keys.StockVersion)
	pending := pipe.Exists(ctx, s.Keys.StockPending)
	loaded := pipe.Exists(ctx, s.Keys.State)
	live := pipe.Get(ctx, s.Keys.StockTotalVersion)
	window := pipe.HMGet(ctx, s.Keys.Window, "opens_at", "version", "applied")
	_, _ = pipe.Exec(ctx)
	if err := total.Err(); err != nil {
		return adminState{}, fmt.Errorf("redis: %w", err)
	}
	var st adminState
	st.Total, _ = strconv.ParseInt(total.Val(), 10, 64)
	st.StockVersion, _ = strconv.ParseInt(version.Val(), 10, 64)
	st.Pending = pending.Val() == 1
	st.Loaded = loaded.Val() == 1
	st.LiveStock, _ = strconv.ParseInt(live.Val(), 10, 64)
	if vals := window.Val(); len(vals) == 3 {
		if v, ok := vals[0].(string); ok {
			ms, _ := strconv.ParseInt(v, 10, 64)
			st.Opens, st.HasWindow = ms/1000, true
		}
		if v, ok := vals[1].(string); ok {
			st.WindowVersion, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := vals[2].(string); ok {
			st.LiveWindow, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return st, nil
}

// mysqlAdminState reads the stock and window stock-consumer persisted.
func (s *Stack) mysqlAdminState(ctx context.Context) (adminState, error) {
	var st adminState
	var opens sql.NullTime
	err := s.DB.QueryRowContext(ctx, "SELECT total_stock, stock_version, opens_at, window_version FROM events WHERE id = ?", s.EventID).
		Scan(&st.Total, &st.StockVersion, &opens, &st.WindowVersion)
	if err != nil {
		return adminState{}, fmt.Errorf("mysql: %w", err)
	}
	if opens.Valid {
		st.Opens, st.HasWindow = opens.Time.Unix(), true
	}
	st.LiveStock, st.LiveWindow = st.StockVersion, st.WindowVersion
	return st, nil
}

// adminStorm fires admin changes at every gateway replica directly.
type adminStorm struct {
	r       *Run
	clients map[string]*stackclient.Client // by instance name
	// floor is the smallest valid total: more than the herd can win, so the
	// event never sells out (and nobody loses) while the storm runs.
	floor    int64
	opensTop int64 // valid openings count down from here (unix seconds)
	next     atomic.Int64

	mu       sync.Mutex
	calls    []adminCall
	refused  map[int64]bool // totals only refused requests asked for
	lastSeen adminState     // the last MySQL state the sampler read
}

func newAdminStorm(r *Run, floor int64) *adminStorm {
	st := &adminStorm{r: r, clients: map[string]*stackclient.Client{}, floor: floor, refused: map[int64]bool{},
		opensTop: time.Now().Add(-time.Hour).Unix()}
	for _, name := range instanceNames("apply-gateway") {
		c := r.S.componentNamed(name)
		st.clients[name] = stackclient.NewClient("http://"+c.Addr(), r.S.API.AdminKey, 16)
	}
	return st
}

// call sends one request of kind to gateway and records it.
func (st *adminStorm) call(ctx context.Context, gateway string, kind adminKind) {
	k := st.next.Add(1)
	c := adminCall{Kind: kind, Gateway: gateway, Start: time.Now()}
	client := st.clients[gateway]
	hdr := map[string]string{"X-ADMIN-KEY": client.AdminKey}
	var resp stackclient.Response
	var err error
	switch kind {
	case stockValid, stockRefused:
		c.Value = st.floor + k
		if kind == stockRefused {
			// Below the winners: half of them just below the current count
			// (racing the decisions that raise it), half further down.
			w, _ := st.r.S.Redis.Get(ctx, st.r.S.Keys.Winners).Int64()
			if w < 1 {
				return // nobody won yet: nothing is below the winners
			}
			c.Value = w - 1
			if k%2 == 0 {
				c.Value = (w - 1) - k%w
			}
		}
		resp, err = client.Do(ctx, http.MethodPost, "/api/admin/event/stock", map[string]int64{"count": c.Value}, hdr)
	case windowValid, windowBad:
		c.Value = st.opensTop - k
		closes := time.Now().Add(24 * time.Hour)
		if kind == windowBad {
			closes = time.Unix(c.Value, 0).Add(-time.Hour)
		}
		body := map[string]string{"opensAt": time.Unix(c.Value, 0).UTC().Format(time.RFC3339), "closesAt": closes.UTC().Format(time.RFC3339)}
		resp, err = client.Do(ctx, http.MethodPut, "/api/admin/event/window", body, hdr)
	}
	c.End = time.Now()
	c.HTTP, c.Code = resp.HTTPStatus, resp.Envelope.Code
	if err != nil && c.HTTP == 0 {
		c.Code = "TRANSPORT"
	}
	st.mu.Lock()
	st.calls = append(st.calls, c)
	if kind == stockRefused || (kind == stockValid && !c.acked()) {
		st.refused[c.Value] = true
	}
	st.mu.Unlock()
}

// A rebuild the storm triggers in the middle of a round.
type adminRebuild int

const (
	noRebuild    adminRebuild = iota
	stateDropped              // the state key deleted: rebuilt over the keys Redis kept
	eventLost                 // every key of the event deleted: rebuilt on an empty Redis
)

// round fires changes from workers per gateway for d and returns the calls
// of the round once every one of them has its answer; halfway through it
// triggers rebuild and waits until stock-consumer restored the state.
func (st *adminStorm) round(ctx context.Context, workers int, d time.Duration, rebuild adminRebuild) []adminCall {
	st.mu.Lock()
	from := len(st.calls)
	st.mu.Unlock()
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	if rebuild != noRebuild {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sleep(ctx, d/2); err != nil {
				return
			}
			st.triggerRebuild(ctx, rebuild)
		}()
	}
	for name := range st.clients {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) && ctx.Err() == nil {
					var kind adminKind
					switch x := mrand.IntN(20); {
					case x < 10:
						kind = stockValid
					case x < 13:
						kind = stockRefused
					case x < 19:
						kind = windowValid
					default:
						kind = windowBad
					}
					st.call(ctx, name, kind)
					time.Sleep(time.Duration(1+mrand.IntN(5)) * time.Millisecond)
				}
			}()
		}
	}
	wg.Wait()
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]adminCall(nil), st.calls[from:]...)
}

// triggerRebuild makes stock-consumer rebuild the event from MySQL and
// waits (up to 60 s) until the state is back.
func (st *adminStorm) triggerRebuild(ctx context.Context, how adminRebuild) {
	s := st.r.S
	switch how {
	case stateDropped:
		if err := s.Redis.Del(ctx, s.Keys.State).Err(); err != nil {
			st.r.Event("admin storm: dropping the state failed: %v", err)
			return
		}
		st.r.Event("admin storm: state key dropped mid-round (rebuild over the keys Redis kept)")
	case eventLost:
		deleted, err := s.DeleteEventKeys(ctx)
		if err != nil {
			st.r.Event("admin storm: deleting the event's keys failed: %v", err)
			return
		}
		st.r.Event("admin storm: deleted %d keys of the event mid-round (rebuild on an empty Redis)", deleted)
	}
	from := time.Now()
	for ctx.Err() == nil {
		c, err := s.redisCounters(ctx)
		if err == nil && c.Exists {
			st.r.Event("admin storm: state rebuilt after %s", time.Since(from).Round(time.Millisecond))
			return
		}
		if time.Since(from) > 60*time.Second {
			st.r.Violationf("stock-consumer did not rebuild the event within 60 s")
			return
		}
		_ = sleep(ctx, 20*time.Millisecond)
	}
}

// sample checks, while the storm runs, what must hold at every moment: the
// persisted versions never go back, MySQL is never ahead of Redis, and no
// refused total ever reaches MySQL.
func (st *adminStorm) sample(ctx context.Context) []string {
	my, err := st.r.S.mysqlAdminState(ctx)
	if err != nil {
		return nil
	}
	rd, err := st.r.S.redisAdminState(ctx)
	if err != nil {
		return nil
	}
	st.mu.Lock()
	prev := st.lastSeen
	st.lastSeen = my
	refused := st.refused[my.Total]
	st.mu.Unlock()
	var out []string
	if my.StockVersion < prev.StockVersion || my.WindowVersion < prev.WindowVersion {
		out = append(out, fmt.Sprintf("during the storm: MySQL's versions went back (stock v%d → v%d, window v%d → v%d)", prev.StockVersion, my.StockVersion, prev.WindowVersion, my.WindowVersion))
	}
	if rd.Loaded && (my.StockVersion > rd.StockVersion || my.WindowVersion > rd.WindowVersion) {
		out = append(out, fmt.Sprintf("during the storm: MySQL ahead of Redis (MySQL stock v%d window v%d, Redis stock v%d window v%d)", my.StockVersion, my.WindowVersion, rd.StockVersion, rd.WindowVersion))
	}
	if refused {
		out = append(out, fmt.Sprintf("during the storm: MySQL holds total %d, which only a refused change asked for", my.Total))
	}
	return out
}

// waitAdminConsumed waits until stock-consumer consumed every admin change.
func (r *Run) waitAdminConsumed(ctx context.Context, d time.Duration) error {
	topic := envOr(r.S.Env, "FAREWELL_ADMIN_TOPIC", kafka.TopicAdmin)
	deadline := time.Now().Add(d)
	for {
		lags, err := r.S.Lags(ctx)
		if err == nil {
			var left int64
			for _, l := range filterGroup(lags, r.S.consumerGroup()) {
				if l.Topic == topic {
					left += l.Behind
				}
			}
			if left == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stock-consumer did not consume the admin changes within %s (%v)", d, err)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// checkpoint compares both stores once a round's changes were consumed, and
// checks that the round's last acknowledged change is the one they hold.
// In a round with a rebuild, any change may be answered 503
// SERVICE_UNAVAILABLE while the state is missing (nothing can be checked
// then), and must then change nothing.
func (st *adminStorm) checkpoint(ctx context.Context, k int, calls []adminCall, before adminState, rebuild adminRebuild) (adminState, error) {
	rebuilt, lost := rebuild != noRebuild, rebuild == eventLost
	r := st.r
	if err := r.waitAdminConsumed(ctx, 30*time.Second); err != nil {
		return adminState{}, err
	}
	rd, err := r.S.redisAdminState(ctx)
	if err != nil {
		return adminState{}, err
	}
	my, err := r.S.mysqlAdminState(ctx)
	if err != nil {
		return adminState{}, err
	}
	count := map[string]int{}
	var ackedStock, ackedWindow []adminCall
	undoneStock, undoneWindow := 0, 0
	for _, c := range calls {
		count[fmt.Sprintf("%s %d %s", kindName(c.Kind), c.HTTP, c.Code)]++
		switch {
		case c.acked() && c.Kind == stockValid:
			ackedStock = append(ackedStock, c)
		case c.acked() && c.Kind == windowValid:
			ackedWindow = append(ackedWindow, c)
		case c.acked():
			r.Violationf("round %d: a change that must be refused was acknowledged: %s %d on %s", k, kindName(c.Kind), c.Value, c.Gateway)
		case rebuilt && c.Code == "SERVICE_UNAVAILABLE" && (c.Kind == stockRefused || c.Kind == windowBad):
			// Refused either way; a bad window is refused before Redis, so
			// it never gets here.
		case c.Kind == stockRefused && c.Code != "STOCK_BELOW_WINNERS" && c.Code != "STOCK_CHANGE_IN_PROGRESS":
			// While another change is in flight every change waits (503),
			// before the check against the winners.
			r.Violationf("round %d: total %d below the winners answered %d %s, want 400 STOCK_BELOW_WINNERS (or 503 STOCK_CHANGE_IN_PROGRESS)", k, c.Value, c.HTTP, c.Code)
		case c.Kind == windowBad && c.HTTP != http.StatusBadRequest:
			r.Violationf("round %d: an inverted window answered %d %s, want 400", k, c.HTTP, c.Code)
		case c.Kind == stockValid && c.Code != "STOCK_CHANGE_IN_PROGRESS":
			undoneStock++ // numbered, then undone (or its fate unknown)
		case c.Kind == windowValid:
			undoneWindow++
		}
	}
	r.Event("admin round %d: %d calls %v; Redis %s; MySQL %s", k, len(calls), count, rd, my)
	if rd.Pending {
		r.Violationf("round %d: a stock change is still pending in Redis after every call returned", k)
	}
	if !rd.Loaded {
		r.Violationf("round %d: Redis has no state once the round's changes were consumed", k)
	}
	if rd.Total != my.Total || rd.LiveStock != my.StockVersion || rd.StockVersion < my.StockVersion {
		r.Violationf("round %d: stock differs once consumed: Redis total %d v%d (numbered up to v%d), MySQL total %d v%d", k, rd.Total, rd.LiveStock, rd.StockVersion, my.Total, my.StockVersion)
	}
	if rd.Opens != my.Opens || rd.LiveWindow != my.WindowVersion || rd.WindowVersion < my.WindowVersion {
		r.Violationf("round %d: window differs once consumed: Redis opens %d v%d (numbered up to v%d), MySQL opens %d v%d", k, rd.Opens, rd.LiveWindow, rd.WindowVersion, my.Opens, my.WindowVersion)
	}
	// Every acknowledged change took one number, every refused one none
	// (after Redis lost the event, numbering resumes a gap above MySQL's).
	if d := rd.StockVersion - before.StockVersion; d < int64(len(ackedStock)) || (!lost && d > int64(len(ackedStock)+undoneStock)) {
		r.Violationf("round %d: stock version moved by %d for %d acknowledged (+%d undone) changes", k, d, len(ackedStock), undoneStock)
	}
	if d := rd.WindowVersion - before.WindowVersion; d < int64(len(ackedWindow)) || (!lost && d > int64(len(ackedWindow)+undoneWindow)) {
		r.Violationf("round %d: window version moved by %d for %d acknowledged (+%d undone) changes", k, d, len(ackedWindow), undoneWindow)
	}
	st.lastWins(k, "stock", ackedStock, rd.Total, before.Total)
	st.lastWins(k, "window", ackedWindow, rd.Opens, before.Opens)
	st.mu.Lock()
	st.lastSeen = my
	st.mu.Unlock()
	return rd, nil
}

// lastWins checks that the value the stores hold is that of an acknowledged
// change of the round that no other acknowledged change followed (one that
// began after it was answered would be later, and win).
func (st *adminStorm) lastWins(k int, what string, acked []adminCall, got, before int64) {
	if len(acked) == 0 {
		if got != before {
			st.r.Violationf("round %d: no %s change acknowledged, yet the value moved %d → %d", k, what, before, got)
		}
		return
	}
	var winner *adminCall
	for i := range acked {
		if acked[i].Value == got {
			winner = &acked[i]
		}
	}
	if winner == nil {
		st.r.Violationf("round %d: the stores hold %s %d, which no acknowledged change of the round set (%d acknowledged)", k, what, got, len(acked))
		return
	}
	for _, c := range acked {
		if c.Start.After(winner.End) {
			st.r.Violationf("round %d: %s %d (answered at %s) won over %d, acknowledged later (sent at %s)", k, what, got,
				winner.End.Format("15:04:05.000"), c.Value, c.Start.Format("15:04:05.000"))
			return
		}
	}
}

func kindName(k adminKind) string {
	return [...]string{"stock", "stock-below-winners", "window", "window-inverted"}[k]
}

// concurrentAdmin fires stock and window changes at both gateway replicas
// directly, in rounds, during the first 60 % of a herd (at least two rounds,
// with a rebuild of Redis from MySQL in the middle of each); between rounds it
// waits until stock-consumer consumed them and compares Redis with MySQL.
// Then one last stock change leaves room for the rest of the herd, so the
// final winners are exact against it.
func concurrentAdmin(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1500, 300)
	r, err := NewRun(ctx, s, "concurrent-admin", n, int64(n), Options{
		// A participant admitted but not decided when the event's keys are
		// deleted loses its marker with them, and a retry is admitted again.
		AllowReaccept: true,
	})
	if err != nil {
		return nil, err
	}
	storm := newAdminStorm(r, r.WinnersBefore+int64(n))
	spread := z.d(12*time.Second, 7*time.Second)
	stormFor := spread * 6 / 10
	workers := z.n(4, 3)
	var calls []adminCall
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			sctx, stop := context.WithCancel(ctx)
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				seen := map[string]bool{}
				for sctx.Err() == nil {
					for _, v := range storm.sample(sctx) {
						if !seen[v] {
							seen[v] = true
							r.Violationf("%s", v)
						}
					}
					_ = sleep(sctx, 100*time.Millisecond)
				}
			}()
			defer func() { stop(); <-sampled }()
			before, err := s.redisAdminState(ctx)
			if err != nil {
				return err
			}
			// At least the two rounds with a rebuild run, however slow.
			for k := 1; k <= 2 || p.Elapsed() < stormFor; k++ {
				rebuild := noRebuild
				switch k {
				case 1:
					rebuild = stateDropped
				case 2:
					rebuild = eventLost
				}
				rc := storm.round(ctx, workers, z.d(time.Second, 700*time.Millisecond), rebuild)
				calls = append(calls, rc...)
				if before, err = storm.checkpoint(ctx, k, rc, before, rebuild); err != nil {
					return err
				}
			}
			// The last change: room for half of those who did not apply yet.
			for {
				st, err := s.API.Stats(ctx)
				if err != nil {
					return err
				}
				left := int64(p.Total() - p.Done())
				stock := st.Winners - r.WinnersBefore + max(left/2, 1)
				err = r.SetStock(ctx, stock)
				if err == nil {
					break
				}
				r.Event("final stock change refused (%v): again", err)
				if err := sleep(ctx, 100*time.Millisecond); err != nil {
					return err
				}
			}
			r.FaultUndone()
			return nil
		})
	byGateway := map[string]int{}
	acked := 0
	for _, c := range calls {
		byGateway[c.Gateway]++
		if c.acked() {
			acked++
		}
	}
	r.Notef("%d admin calls (%d acknowledged) over %s: by gateway %v", len(calls), acked, stormFor, byGateway)
	return r, err
}
