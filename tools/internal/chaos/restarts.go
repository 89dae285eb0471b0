package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// The scenarios of this file stop processes the way operators and
// orchestrators do, or the way a machine does: a rolling restart of every
// service and a kill -9 of the only Kafka broker.

// gracePeriod is how long a service may take to exit after SIGTERM before
// it is killed, as Kubernetes' default terminationGracePeriodSeconds.
const gracePeriod = 30 * time.Second

// rollingRestart restarts every instance of every service, one at a time,
// during a long herd: SIGTERM, wait until the process exited, start it again
// with the stack's own start code, wait for its /readyz, then the next one.
func rollingRestart(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(2000, 600)
	r, err := NewRun(ctx, s, "rolling-restart", n, int64(n/3), Options{SettleTimeout: 150 * time.Second})
	if err != nil {
		return nil, err
	}
	spread := z.d(40*time.Second, 25*time.Second)
	var rollFrom, rollTo time.Time
	var steps []string
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Repeats(1, 2), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/10); err != nil {
				return err
			}
			rollFrom = time.Now()
			for _, service := range []string{"auth", "apply-gateway", "stock-consumer", "notifier"} {
				for _, name := range instanceNames(service) {
					t0 := time.Now()
					pid, err := s.Signal(name, syscall.SIGTERM, gracePeriod)
					if err != nil {
						return err
					}
					stopped := time.Since(t0)
					if stopped >= gracePeriod {
						r.Violationf("%s (pid %d) did not exit within %s of SIGTERM (killed)", name, pid, gracePeriod)
					}
					t1 := time.Now()
					if err := s.RestartService(ctx, name); err != nil {
						return err
					}
					ready := time.Since(t1)
					// As a rolling update waits for the new pod to be in the
					// Service's endpoints: here, until nginx routes to it
					// again (it skips a failed server for fail_timeout).
					routed, err := s.waitRouted(ctx, name)
					if err != nil {
						return err
					}
					step := fmt.Sprintf("%s stopped in %s, ready %s after its start", name, stopped.Round(10*time.Millisecond), ready.Round(10*time.Millisecond))
					if routed >= 0 {
						step += fmt.Sprintf(", routed by nginx %s later", routed.Round(10*time.Millisecond))
					}
					steps = append(steps, step)
					r.Event("%s (at %d/%d answers)", step, p.Done(), p.Total())
				}
			}
			rollTo = time.Now()
			r.FaultUndone()
			if rollTo.After(p.start.Add(spread)) {
				r.Notef("the roll outlasted the herd (%s > %s): its last steps ran without applicants", rollTo.Sub(p.start).Round(time.Second), spread)
			}
			return nil
		})
	if !rollFrom.IsZero() {
		r.Notef("rolling restart in %s: %s", rollTo.Sub(rollFrom).Round(100*time.Millisecond), strings.Join(steps, "; "))
		r.mu.Lock()
		failed := map[string]int{}
		for _, a := range r.Attempts {
			if a.Start.After(rollFrom) && (rollTo.IsZero() || a.Start.Before(rollTo)) && a.HTTP != 202 && a.HTTP != 409 {
				failed[fmt.Sprintf("%d %s", a.HTTP, a.Code)]++
			}
		}
		r.mu.Unlock()
		r.Notef("answers other than 202/409 during the roll: %v", failed)
		if len(failed) > 0 {
			r.Violationf("a rolling restart must not fail applications (one replica serves while the other restarts): %v", failed)
		}
	}
	return r, err
}

// waitRouted waits until nginx answers a request with instance name (auth
// and apply-gateway; other services are not behind nginx) and returns how
// long that took (-1 for a service nginx does not route to).
func (s *Stack) waitRouted(ctx context.Context, name string) (time.Duration, error) {
	c := s.componentNamed(name)
	var path string
	switch c.Service {
	case "auth":
		path = "/api/auth/readyz" // any path of the auth route: auth's own 404
	case "apply-gateway":
		path = "/api/event/status" // the gateway's own 401 without a token
	default:
		return -1, nil
	}
	start := time.Now()
	for {
		resp, err := s.API.Do(ctx, http.MethodGet, path, nil, nil)
		if err == nil || resp.HTTPStatus != 0 {
			hops := strings.Split(resp.Header.Get("X-Upstream-Addr"), ",")
			if strings.TrimSpace(hops[len(hops)-1]) == c.Addr() {
				return time.Since(start), nil
			}
		}
		if time.Since(start) > 15*time.Second {
			return 0, fmt.Errorf("nginx did not route to %s within 15 s of its readiness", name)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// kafkaKill9 kill -9s the only broker of the small topology during a herd
// and starts it again: applications are refused with 503 while it is down,
// none acknowledged (202) is lost, nobody is decided twice.
func kafkaKill9(ctx context.Context, s *Stack, z Size) (*Run, error) {
	if len(s.Topology.Kafka) != 1 {
		return nil, fmt.Errorf("kafka-kill9 needs the small topology (one broker); the %s one runs: see ha-leader-kill", s.Topology.Name)
	}
	r, down, err := brokerDown(ctx, s, z, "kafka-kill9", syscall.SIGKILL)
	if r == nil {
		return nil, err
	}
	// While the broker is down an application can only be refused: 503
	// (nothing promised), or 409 for who already has an answer.
	r.mu.Lock()
	var wrong []string
	for _, a := range r.Attempts {
		if down.contains(a) && a.HTTP != 503 && a.HTTP != 409 {
			wrong = append(wrong, fmt.Sprintf("%s %d %s at +%s", r.Participants[a.Participant], a.HTTP, a.Code, a.Start.Sub(down.from).Round(time.Millisecond)))
		}
	}
	r.mu.Unlock()
	if len(wrong) > 0 {
		r.Violationf("applications while the broker was down answered other than 503/409: %s", examples(wrong))
	}
	return r, err
}
