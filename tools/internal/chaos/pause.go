package chaos

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// redisTimeout is the services' Redis read and write timeout (pkg/redisx).
const redisTimeout = 2 * time.Second

// redisPauseEmails freezes Redis (SIGSTOP) for three times the services'
// Redis timeout while the notifiers mail the winners of a decided herd, then
// lets it go on (SIGCONT): every command the notifiers sent meanwhile is
// answered late or times out, and still every winner gets exactly one email.
// The notifiers are stopped during the herd so the emails start only once
// every decision is made.
func redisPauseEmails(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1600, 600)
	// A claim the notifier could not read back stays "sending" until it
	// expires (45 s), and its email waits for it.
	r, err := NewRun(ctx, s, "redis-pause-emails", n, int64(n/2), Options{SettleTimeout: 150 * time.Second})
	if err != nil {
		return nil, err
	}
	for _, name := range instanceNames("notifier") {
		if _, err := s.Signal(name, syscall.SIGTERM, gracePeriod); err != nil {
			return r, err
		}
	}
	r.Event("notifiers stopped: the results wait in Kafka")
	if err := r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.OnceEach(), Concurrency: 128}, nil); err != nil {
		return r, err
	}
	if err := r.waitQuiet(ctx, s.consumerGroup(), 60*time.Second); err != nil {
		return r, err
	}
	r.Event("every application decided; starting the notifiers")
	for _, name := range instanceNames("notifier") {
		if _, _, err := s.StartService(name, nil); err != nil {
			return r, err
		}
	}
	// Freeze Redis as soon as the emails flow (they go out fast: poll
	// Mailpit closely rather than waiting for the notifiers' readiness).
	winners := int(r.Stock)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := s.Mailpit.Count(ctx, r.Prefix)
		if err == nil && c >= max(winners/10, 1) {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("only %d of %d emails after 60 s (are the notifiers running?)", c, winners)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return r, err
		}
	}
	pid := s.runningPid("redis")
	if pid == 0 {
		return r, fmt.Errorf("redis is not running")
	}
	s.Logf("fault: SIGSTOP redis (pid %d)", pid)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return r, fmt.Errorf("SIGSTOP redis: %w", err)
	}
	// Whatever happens next, Redis runs again.
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	before, _ := s.Mailpit.Count(ctx, r.Prefix)
	hold := 3 * redisTimeout
	if err := sleep(ctx, hold); err != nil {
		return r, err
	}
	during, _ := s.Mailpit.Count(ctx, r.Prefix)
	r.FaultUndone()
	s.Logf("fault undone: SIGCONT redis (pid %d)", pid)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		return r, fmt.Errorf("SIGCONT redis: %w", err)
	}
	r.Notef("Redis frozen for %s with %d of %d winners mailed; %d emails went out while it was frozen", hold, before, winners, during-before)
	if before >= winners {
		r.Violationf("every email went out before Redis was frozen: the scenario did not test what it should (the notifiers mailed too fast)")
	}
	return r, s.WaitReady(ctx, 60*time.Second)
}
