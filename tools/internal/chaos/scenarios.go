package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Size scales a scenario: the full suite (`make chaos`) or the reduced one
// that runs inside `make test`.
type Size struct{ Reduced bool }

func (z Size) n(full, reduced int) int {
	if z.Reduced {
		return reduced
	}
	return full
}

func (z Size) d(full, reduced time.Duration) time.Duration {
	if z.Reduced {
		return reduced
	}
	return full
}

// Scenario is one named, separately runnable chaos case. Run drives the
// herd and the faults (undoing them itself); the suite then retries what a
// client would retry, verifies and restores the stack.
type Scenario struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, s *Stack, z Size) (*Run, error)
}

// Scenarios lists every scenario in the order `make chaos` runs them.
func Scenarios() []Scenario {
	return []Scenario{
		{"dup-storm", "participants apply 1-5 times concurrently; S = participants/4", dupStorm},
		{"consumer-crash", "kill -9 both stock-consumers mid-herd, restart them", consumerCrash},
		{"consumer-fault-after-decide", "the only stock-consumer left exits between the Redis decision and the MySQL insert", consumerFault("after-decide")},
		{"consumer-fault-after-persist", "stock-consumer exits between the MySQL insert and publishing decisions", consumerFault("after-persist")},
		{"consumer-fault-after-publish", "stock-consumer exits after publishing, before the offset commit", consumerFault("after-publish")},
		{"notifier-crash", "kill -9 both notifiers while they send the result emails, restart them", notifierCrash},
		{"smtp-outage", "SMTP server (Mailpit) down for 8 s while result emails go out: temporary failures", smtpOutage},
		{"smtp-refusal", "SMTP refuses 25% of RCPTs with 451 and every address with '=' with 550 (permanent)", smtpRefusal},
		{"redis-pause-emails", "Redis frozen (SIGSTOP) for 3x its client timeout while the notifiers mail the winners", redisPauseEmails},
		{"broker-outage", "Kafka stopped (SIGTERM) mid-herd for ~6 s, restarted as make infra does", brokerOutage},
		{"kafka-kill9", "the only Kafka broker kill -9ed mid-herd, restarted: 503 while down, nothing acknowledged lost", kafkaKill9},
		{"redis-restart", "Redis kill -9 mid-herd, restarted from its append-only file", redisRestart},
		{"redis-flush", "the event's Redis keys deleted between two herds; stock-consumer must rebuild from MySQL", redisFlush},
		{"redis-flush-admin", "the event's Redis keys deleted, then the admin sets the stock again before stock-consumer rebuilt", redisFlushThenAdmin},
		{"mysql-outage", "MariaDB stopped (SIGTERM) mid-herd for ~6 s, restarted", mysqlOutage},
		{"gateway-replica-loss", "kill -9 apply-gateway-1 mid-herd; nginx fails over; restart it", gatewayLoss},
		{"rolling-restart", "every service restarted one replica at a time mid-herd (SIGTERM, exit, start, /readyz)", rollingRestart},
		{"stock-zero", "stock 0: nobody wins, nothing admitted", edgeStock("stock-zero", 0)},
		{"stock-one", "stock 1 under a herd with duplicates", edgeStock("stock-one", 1)},
		{"stock-surplus", "stock larger than the number of participants", edgeStock("stock-surplus", -100)},
		{"stock-change", "admin raises the stock twice (once while sold out) and lowers it during the herd", stockChange},
		{"concurrent-admin", "stock and window changes fired at both gateways directly during a herd, refused ones included", concurrentAdmin},
		{"two-consumer-rebuild", "the event's Redis keys deleted three times mid-herd with both stock-consumers running", twoConsumerRebuild},
		{"partial-rollback", "a DUMP of the event's keys from ⅛ of the herd restored at ½, state key kept (a lagging replica took over)", partialRollback},
		{"consumer-rebalance", "a second stock-consumer joins mid-herd, the first leaves, then rejoins: the partition moves mid-batch", consumerRebalance},
		{"gateway-clock-skew", "apply-gateway-1's clock 2 h ahead; the window opens 3-4 s into the herd", gatewayClockSkew},
		{"repeating-failure", "an admin change and an application MySQL refuses every time, published mid-herd: isolated, dead-lettered, decided; then replayed", repeatingFailure},
	}
}

// Groups are shorthand names for several scenarios.
var Groups = map[string][]string{
	"consumer-faults": {"consumer-fault-after-decide", "consumer-fault-after-persist", "consumer-fault-after-publish"},
	"notifier":        {"notifier-crash", "smtp-outage", "smtp-refusal"},
	"redis":           {"redis-restart", "redis-flush", "redis-flush-admin"},
	"edge-stocks":     {"stock-zero", "stock-one", "stock-surplus", "stock-change"},
	"scaled":          {"two-consumer-rebuild", "partial-rollback", "consumer-rebalance", "gateway-clock-skew"},
	"reduced":         {"dup-storm", "consumer-crash", "gateway-replica-loss", "concurrent-admin", "redis-pause-emails"},
	// ha needs `make run-ha`: the HA faults, then the reduced suite on that topology.
	"ha": {"ha-leader-kill", "ha-two-brokers", "ha-redis-failover", "dup-storm", "consumer-crash", "gateway-replica-loss"},
}

// AllScenarios is every scenario that exists: those of Scenarios and the
// ones that need the HA topology.
func AllScenarios() []Scenario { return append(Scenarios(), haScenarios()...) }

// Select resolves a comma-separated list of scenario and group names ("" or
// "all": every scenario of Scenarios, which runs on any topology).
func Select(list string) ([]Scenario, error) {
	if strings.TrimSpace(list) == "" || list == "all" {
		return Scenarios(), nil
	}
	byName := map[string]Scenario{}
	for _, sc := range AllScenarios() {
		byName[sc.Name] = sc
	}
	var out []Scenario
	seen := map[string]bool{}
	add := func(name string) error {
		sc, ok := byName[name]
		if !ok {
			return fmt.Errorf("unknown scenario %q (see -list)", name)
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, sc)
		}
		return nil
	}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if g, ok := Groups[name]; ok {
			for _, n := range g {
				if err := add(n); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := add(name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sleep waits d unless ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// ---------------------------------------------------------------- scenarios

func dupStorm(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(2000, 300)
	r, err := NewRun(ctx, s, "dup-storm", n, int64(n/4), Options{})
	if err != nil {
		return nil, err
	}
	return r, r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Repeats(1, 5), Concurrency: 256}, nil)
}

func consumerCrash(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1500, 400)
	r, err := NewRun(ctx, s, "consumer-crash", n, int64(n/3), Options{})
	if err != nil {
		return nil, err
	}
	spread := z.d(8*time.Second, 4*time.Second)
	return r, r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Repeats(1, 2), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/4); err != nil {
				return err
			}
			if err := s.KillAll("stock-consumer"); err != nil {
				return err
			}
			r.Event("every stock-consumer killed at %d/%d answers", p.Done(), p.Total())
			if err := sleep(ctx, time.Second); err != nil {
				return err
			}
			r.FaultUndone()
			return s.RestartAll(ctx, "stock-consumer")
		})
}

// consumerFault replaces stock-consumer with one that exits (code 3) when
// its first batch reaches point, then restarts it normally.
func consumerFault(point string) func(ctx context.Context, s *Stack, z Size) (*Run, error) {
	return func(ctx context.Context, s *Stack, z Size) (*Run, error) {
		n := z.n(600, 300)
		r, err := NewRun(ctx, s, "consumer-fault-"+point, n, int64(n/3), Options{})
		if err != nil {
			return nil, err
		}
		// A graceful stop leaves the group at once, so the faulty one takes
		// over quickly; the others stay stopped until it exited, so it is
		// the one that owns the partition.
		for _, name := range instanceNames("stock-consumer") {
			if _, err := s.Signal(name, syscall.SIGTERM, 25*time.Second); err != nil {
				return r, err
			}
		}
		pid, exited, err := s.StartService("stock-consumer-1", map[string]string{"FAREWELL_FAULT_POINT": point})
		if err != nil {
			return r, err
		}
		s.mu.Lock()
		s.faulty = pid
		s.mu.Unlock()
		if err := s.WaitReady(ctx, 60*time.Second, "stock-consumer-1"); err != nil {
			return r, err
		}
		r.Event("stock-consumer-1 runs with FAREWELL_FAULT_POINT=%s (pid %d)", point, pid)
		spread := z.d(5*time.Second, 3*time.Second)
		return r, r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Repeats(1, 2), Concurrency: 128, Spread: spread},
			func(ctx context.Context, p *Progress) error {
				var code int
				select {
				case code = <-exited:
				case <-time.After(spread + 30*time.Second):
					r.Violationf("fault point %s was never reached (the consumer did not exit)", point)
					_, _ = s.Signal("stock-consumer-1", syscall.SIGTERM, 20*time.Second)
				case <-ctx.Done():
					return ctx.Err()
				}
				if code != 3 && code != 0 {
					r.Violationf("the faulty consumer exited with %d, want 3 (fault point %s)", code, point)
				}
				if code == 3 {
					r.Event("fault point %s hit: stock-consumer exited with 3 at %d/%d answers", point, p.Done(), p.Total())
				}
				s.mu.Lock()
				s.faulty = 0
				s.mu.Unlock()
				r.FaultUndone()
				return s.RestartAll(ctx, "stock-consumer")
			})
	}
}

// waitMails waits until at least n emails to the run's prefix are in Mailpit.
func (r *Run) waitMails(ctx context.Context, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := r.S.Mailpit.Count(ctx, r.Prefix)
		if err == nil && c >= n {
			r.Event("%d emails delivered so far", c)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d emails after %s (is the notifier running?)", c, n, limit)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func notifierCrash(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(800, 300)
	// A claim left "sending" by the crash blocks that email (and its batch)
	// until the claim expires (2 minutes), so allow for it.
	r, err := NewRun(ctx, s, "notifier-crash", n, int64(n/2), Options{SettleTimeout: 200 * time.Second,
		DuplicatesExpected: "a kill -9 between the SMTP server's 250 and the Redis sent-marker makes the email go out again once the 45 s claim expires: at-least-once"})
	if err != nil {
		return nil, err
	}
	return r, r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128, Spread: 2 * time.Second},
		func(ctx context.Context, p *Progress) error {
			if err := r.waitMails(ctx, n/8, 60*time.Second); err != nil {
				return err
			}
			if err := s.KillAll("notifier"); err != nil {
				return err
			}
			if err := sleep(ctx, 2*time.Second); err != nil {
				return err
			}
			r.FaultUndone()
			return s.RestartAll(ctx, "notifier")
		})
}

func smtpOutage(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(600, 300)
	r, err := NewRun(ctx, s, "smtp-outage", n, int64(n/2), Options{SettleTimeout: 120 * time.Second})
	if err != nil {
		return nil, err
	}
	return r, r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128, Spread: 2 * time.Second},
		func(ctx context.Context, p *Progress) error {
			if err := r.waitMails(ctx, n/10, 60*time.Second); err != nil {
				return err
			}
			if _, err := s.Signal("mailpit", syscall.SIGTERM, 15*time.Second); err != nil {
				return err
			}
			if err := sleep(ctx, 8*time.Second); err != nil {
				return err
			}
			r.FaultUndone()
			return s.StartInfra(ctx, "mailpit")
		})
}

// refusedMarker is in the addresses the SMTP server refuses for good.
const refusedMarker = "=refused"

func smtpRefusal(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(600, 300)
	opts := Options{
		SettleTimeout: 150 * time.Second,
		Email: func(prefix string, i int) string {
			if i%10 == 0 {
				return fmt.Sprintf("%s-%05d%s@chaos.farewell.local", prefix, i, refusedMarker)
			}
			return fmt.Sprintf("%s-%05d@chaos.farewell.local", prefix, i)
		},
		Refused: func(email string) bool { return strings.Contains(email, refusedMarker) },
	}
	// Everyone wins, so every refused address is a winner whose email must
	// end up dead-lettered.
	r, err := NewRun(ctx, s, "smtp-refusal", n, int64(n), opts)
	if err != nil {
		return nil, err
	}
	if err := s.ReplaceMailpit(ctx, "--smtp-allowed-recipients", `^[^=]+$`, "--chaos-triggers", "Recipient:451:25"); err != nil {
		return r, err
	}
	r.Event("mailpit now refuses RCPT with 451 (25%%) and %q addresses with 550", refusedMarker)
	return r, r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128}, nil)
}

// downWindow records when a component was down, to judge the answers given
// meanwhile.
type downWindow struct{ from, to time.Time }

func (w downWindow) contains(a Attempt) bool {
	return !w.from.IsZero() && a.Start.After(w.from) && !w.to.IsZero() && a.End.Before(w.to)
}

func brokerOutage(ctx context.Context, s *Stack, z Size) (*Run, error) {
	r, _, err := brokerDown(ctx, s, z, "broker-outage", syscall.SIGTERM)
	return r, err
}

// brokerDown stops the Kafka broker with sig at a fifth of a herd, keeps it
// down for about 6 s and starts it again as `make infra` does; no 202 may be
// given while it is down. It returns the run and when the broker was down.
func brokerDown(ctx context.Context, s *Stack, z Size, name string, sig syscall.Signal) (*Run, downWindow, error) {
	n := z.n(1500, 400)
	var down downWindow
	r, err := NewRun(ctx, s, name, n, int64(n/3), Options{SettleTimeout: 180 * time.Second})
	if err != nil {
		return nil, down, err
	}
	spread := z.d(16*time.Second, 8*time.Second)
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/5); err != nil {
				return err
			}
			if _, err := s.Signal("kafka", sig, 40*time.Second); err != nil {
				return err
			}
			down.from = time.Now()
			r.Event("kafka stopped with %s (at %d/%d answers)", sig, p.Done(), p.Total())
			if err := sleep(ctx, 6*time.Second); err != nil {
				return err
			}
			down.to = time.Now()
			r.FaultUndone()
			t0 := time.Now()
			if err := s.StartInfra(ctx, "kafka"); err != nil {
				return err
			}
			r.Notef("kafka ready %s after its start", time.Since(t0).Round(100*time.Millisecond))
			return s.WaitReady(ctx, 150*time.Second)
		})
	judgeOutage(r, "kafka", down, true)
	return r, down, err
}

// judgeOutage reports the answers given while name was down; with
// no202, a 202 in that window breaks "202 means durable".
func judgeOutage(r *Run, name string, down downWindow, no202 bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byClass := map[string]int{}
	var bad []string
	firstAfter := time.Duration(-1)
	for _, a := range r.Attempts {
		if down.contains(a) {
			byClass[a.class()]++
			if no202 && a.HTTP == 202 {
				bad = append(bad, fmt.Sprintf("%s answered 202 at +%s into the outage", r.Participants[a.Participant], a.End.Sub(down.from).Round(time.Millisecond)))
			}
		}
		if a.HTTP == 202 && !down.to.IsZero() && a.Start.After(down.to) {
			if d := a.End.Sub(down.to); firstAfter < 0 || d < firstAfter {
				firstAfter = d
			}
		}
	}
	var parts []string
	for k, v := range byClass {
		parts = append(parts, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		parts = []string{"none"}
	}
	r.notes = append(r.notes, fmt.Sprintf("answers started and finished while %s was down (%s): %s", name, down.to.Sub(down.from).Round(100*time.Millisecond), strings.Join(parts, " ")))
	if firstAfter >= 0 {
		r.notes = append(r.notes, fmt.Sprintf("first 202 after %s restart began: +%s", name, firstAfter.Round(100*time.Millisecond)))
	}
	if len(bad) > 0 {
		r.violations = append(r.violations, fmt.Sprintf("202 while %s was down (not durable): %s", name, examples(bad)))
	}
}

func redisRestart(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1500, 400)
	r, err := NewRun(ctx, s, "redis-restart", n, int64(n/3), Options{})
	if err != nil {
		return nil, err
	}
	spread := z.d(8*time.Second, 4*time.Second)
	var down downWindow
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/4); err != nil {
				return err
			}
			if err := s.KillRedis(); err != nil {
				return err
			}
			down.from = time.Now()
			if err := sleep(ctx, time.Second); err != nil {
				return err
			}
			down.to = time.Now()
			r.FaultUndone()
			if err := s.StartInfra(ctx, "redis"); err != nil {
				return err
			}
			return s.WaitReady(ctx, 60*time.Second)
		})
	judgeOutage(r, "redis", down, true)
	return r, err
}

// KillRedis kill -9s Redis (its append-only file survives).
func (s *Stack) KillRedis() error {
	_, err := s.Signal("redis", syscall.SIGKILL, 10*time.Second)
	return err
}

func redisFlush(ctx context.Context, s *Stack, z Size) (*Run, error) {
	nA, nB := z.n(800, 200), z.n(400, 100)
	// Phase A cannot sell out; newcomers after the flush can win half of
	// their number. Earlier applicants apply again after the flush: they must
	// get 409 (or 503 while the state is missing), never a second 202.
	r, err := NewRun(ctx, s, "redis-flush", nA+nB, int64(nA+nB/2), Options{})
	if err != nil {
		return nil, err
	}
	if err := r.Fire(ctx, HerdSpec{Phase: "before-flush", Order: r.Range(0, nA), Concurrency: 128}, nil); err != nil {
		return r, err
	}
	if err := r.waitQuiet(ctx, s.consumerGroup(), 60*time.Second); err != nil {
		return r, err
	}
	before := r.answers()
	spread := z.d(6*time.Second, 4*time.Second)
	var gaps []downWindow
	// flush deletes the event's keys and waits until stock-consumer has
	// rebuilt them (the counters exist again).
	flush := func(ctx context.Context, p *Progress) error {
		deleted, err := s.DeleteEventKeys(ctx)
		if err != nil {
			return err
		}
		w := downWindow{from: time.Now()}
		r.Event("deleted %d keys farewell:{%s}:* at %d/%d answers (Redis lost the event)", deleted, s.EventID, p.Done(), p.Total())
		r.FaultUndone()
		for {
			c, err := s.redisCounters(ctx)
			if err == nil && c.Exists {
				break
			}
			if time.Since(w.from) > 60*time.Second {
				return fmt.Errorf("stock-consumer did not rebuild the event within 60 s")
			}
			if err := sleep(ctx, 20*time.Millisecond); err != nil {
				return err
			}
		}
		w.to = time.Now()
		gaps = append(gaps, w)
		r.Event("event state back in Redis after %s", w.to.Sub(w.from).Round(time.Millisecond))
		return nil
	}
	// Everyone of phase A applies again, with the newcomers; the keys are
	// deleted twice while decisions are being made.
	err = r.Fire(ctx, HerdSpec{Phase: "around-flush", Order: r.Range(0, nA+nB), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := flush(ctx, p); err != nil {
				return err
			}
			if err := p.WaitElapsed(ctx, spread/2); err != nil {
				return err
			}
			return flush(ctx, p)
		})
	for k, g := range gaps {
		judgeOutage(r, fmt.Sprintf("the event state (flush %d)", k+1), g, false)
	}
	after := r.answers()
	again, conflict := 0, 0
	for i := 0; i < nA; i++ {
		if after.accepted[i] > before.accepted[i] {
			again++
		}
		if after.conflicts[i] {
			conflict++
		}
	}
	r.Notef("after the flushes, of %d earlier applicants %d got 409 and %d a second 202", nA, conflict, again)
	if n := s.consumerRebuilds(ctx); n >= 0 && r.rebuilds0 >= 0 && n <= r.rebuilds0 {
		r.Violationf("stock-consumer did not rebuild the event from MySQL (farewell_redis_rebuilds_total %v → %v)", r.rebuilds0, n)
	} else {
		r.Notef("stock-consumer rebuilt the event from MySQL (farewell_redis_rebuilds_total %v → %v)", r.rebuilds0, n)
	}
	return r, err
}

// redisFlushThenAdmin: Redis loses the event, and an operator who sees the
// stock at 0 sets it again before stock-consumer's rebuild (which runs at
// most a second later). The gateway must refuse (503) until the event is
// restored from MySQL, so the operator retries, as Retry-After says; MySQL
// already holds a sold-out event, so newcomers must all lose.
func redisFlushThenAdmin(ctx context.Context, s *Stack, z Size) (*Run, error) {
	nA, nB := z.n(400, 100), z.n(200, 50)
	stock := int64(nA * 3 / 4)
	r, err := NewRun(ctx, s, "redis-flush-admin", nA+nB, stock, Options{})
	if err != nil {
		return nil, err
	}
	r.AfterVerify = func(ctx context.Context) error {
		// Whatever happened, leave Redis equal to MySQL for the next runs:
		// drop the event's keys again and wait for the rebuild.
		if _, err := s.DeleteEventKeys(ctx); err != nil {
			return err
		}
		return waitUntil(ctx, func() bool { c, err := s.redisCounters(ctx); return err == nil && c.Exists })
	}
	if err := r.Fire(ctx, HerdSpec{Phase: "before-flush", Order: r.Range(0, nA), Concurrency: 128}, nil); err != nil {
		return r, err
	}
	if err := r.waitQuiet(ctx, s.consumerGroup(), 60*time.Second); err != nil {
		return r, err
	}
	deleted, err := s.DeleteEventKeys(ctx)
	if err != nil {
		return r, err
	}
	r.Event("deleted %d keys farewell:{%s}:*", deleted, s.EventID)
	r.FaultUndone()
	// The restore reads every row of the event, so it takes longer the
	// larger the event is (seconds for a few hundred thousand rows).
	refused, giveUp := 0, time.Now().Add(90*time.Second)
	for {
		err := s.API.SetStock(ctx, r.WinnersBefore+r.Stock)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "503") || time.Now().After(giveUp) {
			return r, err
		}
		refused++
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return r, err
		}
	}
	r.Event("the admin's stock change was refused with 503 %d time(s) until the event was restored", refused)
	if err := s.API.OpenWindow(ctx, 24*time.Hour); err != nil {
		return r, err
	}
	c, _ := s.redisCounters(ctx)
	r.Event("admin set the stock again to %d right after the loss: Redis now says total %d, winners %d, remaining %d", r.WinnersBefore+r.Stock, c.Total, c.Winners, c.Remaining)
	if err := sleep(ctx, 3*s.soldOutRefresh()); err != nil {
		return r, err
	}
	err = r.Fire(ctx, HerdSpec{Phase: "after-flush", Order: r.Range(0, nA+nB), Concurrency: 128, Spread: z.d(3*time.Second, 2*time.Second)}, nil)
	if n := s.consumerRebuilds(ctx); n >= 0 && r.rebuilds0 >= 0 && n <= r.rebuilds0 {
		r.Notef("stock-consumer never rebuilt the event (farewell_redis_rebuilds_total %v → %v): the admin's stock key made it look present", r.rebuilds0, n)
	}
	return r, err
}

func mysqlOutage(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1500, 400)
	r, err := NewRun(ctx, s, "mysql-outage", n, int64(n/3), Options{SettleTimeout: 120 * time.Second})
	if err != nil {
		return nil, err
	}
	spread := z.d(10*time.Second, 5*time.Second)
	var down downWindow
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/5); err != nil {
				return err
			}
			if _, err := s.Signal("mariadb", syscall.SIGTERM, 60*time.Second); err != nil {
				return err
			}
			down.from = time.Now()
			if err := sleep(ctx, 6*time.Second); err != nil {
				return err
			}
			down.to = time.Now()
			r.FaultUndone()
			if err := s.StartInfra(ctx, "mariadb"); err != nil {
				return err
			}
			return s.WaitReady(ctx, 60*time.Second)
		})
	// The gateway does not need MySQL: applications keep being accepted.
	judgeOutage(r, "mariadb", down, false)
	return r, err
}

func gatewayLoss(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1500, 400)
	r, err := NewRun(ctx, s, "gateway-replica-loss", n, int64(n/2), Options{})
	if err != nil {
		return nil, err
	}
	spread := z.d(8*time.Second, 5*time.Second)
	var killedAt, restartedAt time.Time
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Repeats(1, 2), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/4); err != nil {
				return err
			}
			if err := s.KillService("apply-gateway-1"); err != nil {
				return err
			}
			killedAt = time.Now()
			if err := sleep(ctx, spread/4); err != nil {
				return err
			}
			r.FaultUndone()
			restartedAt = time.Now()
			return s.RestartService(ctx, "apply-gateway-1")
		})
	if !killedAt.IsZero() {
		r.mu.Lock()
		failed, inFlight, served := 0, 0, map[string]int{}
		var late []string
		for _, a := range r.Attempts {
			if a.Start.After(killedAt) && a.End.Before(restartedAt) && a.Upstream != "" {
				served[a.Upstream]++
			}
			if a.HTTP == 202 || a.HTTP == 409 {
				continue
			}
			failed++
			if a.Start.Before(killedAt) {
				inFlight++
			} else if a.Start.After(killedAt.Add(time.Second)) {
				late = append(late, fmt.Sprintf("%s %d %s at +%s", r.Participants[a.Participant], a.HTTP, a.Code, a.Start.Sub(killedAt).Round(time.Millisecond)))
			}
		}
		r.mu.Unlock()
		r.Notef("answers other than 202/409: %d (%d were in flight on the killed replica); upstreams while it was down: %v", failed, inFlight, served)
		if len(late) > 0 {
			r.Violationf("nginx did not fail over: requests sent more than 1 s after the kill failed: %s", examples(late))
		}
	}
	return r, err
}

// edgeStock runs a herd with a fixed stock; a negative stock means
// "participants + |stock|" (more stock than participants).
func edgeStock(name string, stock int) func(ctx context.Context, s *Stack, z Size) (*Run, error) {
	return func(ctx context.Context, s *Stack, z Size) (*Run, error) {
		n := z.n(500, 200)
		s0 := stock
		if s0 < 0 {
			s0 = n - s0
		}
		r, err := NewRun(ctx, s, name, n, int64(s0), Options{})
		if err != nil {
			return nil, err
		}
		err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Repeats(1, 2), Concurrency: 128}, nil)
		codes := map[string]int{}
		r.mu.Lock()
		for _, a := range r.Attempts {
			codes[fmt.Sprintf("%d %s", a.HTTP, a.Code)]++
		}
		r.mu.Unlock()
		r.Notef("answers: %v", codes)
		if s0 == 0 && codes["202 OK"] > 0 {
			r.Violationf("stock 0 but %d applications were accepted (202)", codes["202 OK"])
		}
		return r, err
	}
}

func stockChange(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1500, 400)
	r, err := NewRun(ctx, s, "stock-change", n, 100, Options{})
	if err != nil {
		return nil, err
	}
	spread := z.d(9*time.Second, 5*time.Second)
	var raises []time.Time
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			// S=100 sells out early; raise it while sold out, lower it soon
			// after (leaving a margin above the winners so far, so the
			// expected outcome stays exact), and raise it again.
			if err := p.WaitElapsed(ctx, spread/4); err != nil {
				return err
			}
			st, _ := s.API.Stats(ctx)
			raises = append(raises, time.Now())
			if err := r.SetStock(ctx, 400); err != nil {
				return err
			}
			r.Event("admin raised S 100 → 400 (sold out before: %v, winners so far %d)", st.SoldOut, st.Winners-r.WinnersBefore)
			if err := sleep(ctx, 300*time.Millisecond); err != nil {
				return err
			}
			if st, err = s.API.Stats(ctx); err != nil {
				return err
			}
			lower := st.Winners - r.WinnersBefore + 50
			if lower < 400 {
				if err := r.SetStock(ctx, lower); err != nil {
					return err
				}
				r.Event("admin lowered S 400 → %d (winners so far %d)", lower, st.Winners-r.WinnersBefore)
			} else {
				r.Notef("did not lower the stock: %d winners already", st.Winners-r.WinnersBefore)
			}
			if err := p.WaitElapsed(ctx, 3*spread/4); err != nil {
				return err
			}
			st, _ = s.API.Stats(ctx)
			raises = append(raises, time.Now())
			if err := r.SetStock(ctx, lower+150); err != nil {
				return err
			}
			r.Event("admin raised S → %d (sold out before: %v)", lower+150, st.SoldOut)
			return nil
		})
	// Answers "sold out" given right after a raise, while stock was free:
	// the replicas' local flag lags by up to FAREWELL_SOLDOUT_REFRESH.
	r.mu.Lock()
	stale := 0
	for _, a := range r.Attempts {
		for _, t := range raises {
			if a.HTTP == 409 && a.Code != "ALREADY_APPLIED" && a.Start.After(t) && a.Start.Before(t.Add(s.soldOutRefresh())) {
				stale++
			}
		}
	}
	r.mu.Unlock()
	r.Notef("%d applicants were told 'sold out' within %s after the admin added stock (local flag refresh lag)", stale, s.soldOutRefresh())
	return r, err
}
