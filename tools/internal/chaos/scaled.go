package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"time"
)

// The scenarios of this file run the scaled topology (two stock-consumers,
// two notifiers, two gateways) against what scaling breaks first: rebuilds
// racing another replica's batch, a Redis that comes back older, members
// joining and leaving the consumer group mid-batch, and a replica whose
// clock is off.

// twoConsumerRebuild deletes the event's Redis keys three times during a
// herd while both stock-consumers run: only the one owning the partition
// may rebuild, and every rebuild is fenced against the batches in flight.
func twoConsumerRebuild(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1500, 400)
	r, err := NewRun(ctx, s, "two-consumer-rebuild", n, int64(n/3), Options{
		// A participant admitted but not decided when the keys go loses its
		// marker with them, and a retry is admitted (and published) again.
		AllowReaccept: true,
	})
	if err != nil {
		return nil, err
	}
	if err := s.WaitReady(ctx, 60*time.Second, instanceNames("stock-consumer")...); err != nil {
		return r, err
	}
	spread := z.d(9*time.Second, 5*time.Second)
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Repeats(1, 2), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			for k := 1; k <= 3; k++ {
				if err := p.WaitElapsed(ctx, spread*time.Duration(k)/4); err != nil {
					return err
				}
				deleted, err := s.DeleteEventKeys(ctx)
				if err != nil {
					return err
				}
				r.Event("flush %d: deleted %d keys of the event at %d/%d answers", k, deleted, p.Done(), p.Total())
			}
			r.FaultUndone()
			return nil
		})
	r.checkRebuilt(ctx)
	return r, err
}

// partialRollback takes a DUMP of the event's keys (all but state) an
// eighth into the herd and restores it at half-time (the stock does not
// sell out before, so the copy is well behind): Redis is back to an
// older copy (a failover to a lagging replica) while the state key says it
// is loaded. The watermark must notice, and the fenced rebuild repair it.
func partialRollback(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1500, 400)
	r, err := NewRun(ctx, s, "partial-rollback", n, int64(n*2/3), Options{
		// Markers set after the copy was taken are gone with it: a retry is admitted again.
		AllowReaccept: true,
	})
	if err != nil {
		return nil, err
	}
	spread := z.d(9*time.Second, 5*time.Second)
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Repeats(1, 2), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/8); err != nil {
				return err
			}
			copyOf, err := s.DumpEventKeys(ctx)
			if err != nil {
				return err
			}
			before, _ := s.redisCounters(ctx)
			r.Event("copied %d keys of the event at %d/%d answers (winners %d)", len(copyOf), p.Done(), p.Total(), before.Winners)
			if err := p.WaitElapsed(ctx, spread/2); err != nil {
				return err
			}
			now, _ := s.redisCounters(ctx)
			if err := s.RestoreEventKeys(ctx, copyOf); err != nil {
				return err
			}
			r.Event("restored the older copy at %d/%d answers: winners %d → %d, state key kept", p.Done(), p.Total(), now.Winners, before.Winners)
			r.FaultUndone()
			return nil
		})
	r.checkRebuilt(ctx)
	return r, err
}

// consumerRebalance starts the herd with one stock-consumer, adds the
// second a quarter in, stops the first at half-time and brings it back at
// three quarters: the partition moves between members mid-batch, twice.
func consumerRebalance(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1500, 400)
	r, err := NewRun(ctx, s, "consumer-rebalance", n, int64(n/3), Options{})
	if err != nil {
		return nil, err
	}
	if _, err := s.Signal("stock-consumer-2", syscall.SIGTERM, 25*time.Second); err != nil {
		return r, err
	}
	r.Event("stock-consumer-2 stopped: stock-consumer-1 decides alone")
	spread := z.d(12*time.Second, 6*time.Second)
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Repeats(1, 2), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/4); err != nil {
				return err
			}
			if err := s.RestartService(ctx, "stock-consumer-2"); err != nil {
				return err
			}
			r.Event("stock-consumer-2 joined the group at %d/%d answers", p.Done(), p.Total())
			if err := p.WaitElapsed(ctx, spread/2); err != nil {
				return err
			}
			if _, err := s.Signal("stock-consumer-1", syscall.SIGTERM, 25*time.Second); err != nil {
				return err
			}
			r.Event("stock-consumer-1 left the group at %d/%d answers", p.Done(), p.Total())
			if err := p.WaitElapsed(ctx, spread*3/4); err != nil {
				return err
			}
			r.FaultUndone()
			if err := s.RestartService(ctx, "stock-consumer-1"); err != nil {
				return err
			}
			r.Event("stock-consumer-1 rejoined at %d/%d answers", p.Done(), p.Total())
			return nil
		})
	return r, err
}

// gatewayClockSkew runs apply-gateway-1 with its own clock two hours ahead
// (FAREWELL_CLOCK_SKEW; faketime cannot move a Go program's clock, which
// the runtime reads from the vDSO) and opens the window a few seconds after
// the herd starts: no 202 may be answered before the window opened by
// Redis's clock, whichever replica answers, and nobody gets two 202s.
func gatewayClockSkew(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1200, 400)
	r, err := NewRun(ctx, s, "gateway-clock-skew", n, int64(n/3), Options{})
	if err != nil {
		return nil, err
	}
	const skew = "2h"
	r.AfterVerify = func(ctx context.Context) error {
		errs := []error{s.API.OpenWindow(ctx, 24*time.Hour)}
		if _, err := s.Signal("apply-gateway-1", syscall.SIGTERM, 20*time.Second); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, s.RestartService(ctx, "apply-gateway-1"))
		return errors.Join(errs...)
	}
	if _, err := s.Signal("apply-gateway-1", syscall.SIGTERM, 20*time.Second); err != nil {
		return r, err
	}
	if _, _, err := s.StartService("apply-gateway-1", map[string]string{"FAREWELL_CLOCK_SKEW": skew}); err != nil {
		return r, err
	}
	if err := s.WaitReady(ctx, 60*time.Second, "apply-gateway-1"); err != nil {
		return r, err
	}
	r.Event("apply-gateway-1 runs with its clock %s ahead", skew)
	redisNow, err := s.Redis.Time(ctx).Result()
	if err != nil {
		return r, err
	}
	opensAt := redisNow.Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
	if err := s.setWindow(ctx, opensAt, opensAt.Add(24*time.Hour)); err != nil {
		return r, err
	}
	r.Event("window opens at %s by Redis's clock", opensAt.Format(time.RFC3339))
	spread := z.d(8*time.Second, 6*time.Second)
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Repeats(1, 3), Concurrency: 128, Spread: spread}, nil)
	early, byUpstream := 0, map[string]int{}
	r.mu.Lock()
	for _, a := range r.Attempts {
		if a.HTTP == 202 {
			byUpstream[a.Upstream]++
			if a.End.Before(opensAt) {
				early++
			}
		}
	}
	r.mu.Unlock()
	if early > 0 {
		r.Violationf("%d applications answered 202 before the window opened at %s", early, opensAt.Format(time.RFC3339))
	}
	r.Notef("202s by upstream (apply-gateway-1 is %s ahead): %v", skew, byUpstream)
	return r, err
}

// rebuildWait bounds how long after the herd a rebuild may still finish:
// it restores every persisted decision of the event, which takes seconds
// once the event has many (each run of the suite adds some).
const rebuildWait = time.Minute

// checkRebuilt notes whether stock-consumer rebuilt the event during the
// run, waiting up to rebuildWait for a rebuild still running.
func (r *Run) checkRebuilt(ctx context.Context) {
	n := r.S.consumerRebuilds(ctx)
	for deadline := time.Now().Add(rebuildWait); n >= 0 && r.rebuilds0 >= 0 && n <= r.rebuilds0 && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		n = r.S.consumerRebuilds(ctx)
	}
	switch {
	case n < 0 || r.rebuilds0 < 0:
		r.Notef("rebuild count unavailable")
	case n <= r.rebuilds0:
		r.Violationf("stock-consumer did not rebuild the event from MySQL (farewell_redis_rebuilds_total %v → %v)", r.rebuilds0, n)
	default:
		r.Notef("stock-consumer rebuilt the event from MySQL (farewell_redis_rebuilds_total %v → %v)", r.rebuilds0, n)
	}
}

// DumpEventKeys returns a DUMP of every key of the event but its state key.
func (s *Stack) DumpEventKeys(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	iter := s.Redis.Scan(ctx, 0, "farewell:{"+s.EventID+"}:*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		if key == "farewell:{"+s.EventID+"}:state" {
			continue
		}
		v, err := s.Redis.Dump(ctx, key).Result()
		if err != nil {
			continue // deleted meanwhile
		}
		out[key] = v
	}
	return out, iter.Err()
}

// RestoreEventKeys puts the copy back: the event's keys (but state) that
// the copy lacks are deleted, the others replaced.
func (s *Stack) RestoreEventKeys(ctx context.Context, copyOf map[string]string) error {
	var stale []string
	iter := s.Redis.Scan(ctx, 0, "farewell:{"+s.EventID+"}:*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		if _, ok := copyOf[key]; !ok && key != "farewell:{"+s.EventID+"}:state" {
			stale = append(stale, key)
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	pipe := s.Redis.TxPipeline()
	if len(stale) > 0 {
		pipe.Del(ctx, stale...)
	}
	for key, v := range copyOf {
		pipe.RestoreReplace(ctx, key, 0, v)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// setWindow sets the event's window through the admin API.
func (s *Stack) setWindow(ctx context.Context, opensAt, closesAt time.Time) error {
	body := map[string]string{"opensAt": opensAt.UTC().Format(time.RFC3339), "closesAt": closesAt.UTC().Format(time.RFC3339)}
	resp, err := s.API.Do(ctx, http.MethodPut, "/api/admin/event/window", body, map[string]string{"X-ADMIN-KEY": s.API.AdminKey})
	if err != nil {
		return err
	}
	if resp.HTTPStatus != http.StatusOK {
		return fmt.Errorf("set window: %d %s", resp.HTTPStatus, resp.Envelope.Code)
	}
	return nil
}
