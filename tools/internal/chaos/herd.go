package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Attempt is one POST /api/event/apply and its answer.
type Attempt struct {
	Participant int
	Phase       string
	Start, End  time.Time
	// HTTP is the status code; 0 means no HTTP answer (transport error).
	HTTP     int
	Code     string
	Upstream string
	Err      string
}

// class buckets an answer for the report.
func (a Attempt) class() string {
	switch a.HTTP {
	case 202:
		return "202"
	case 409:
		return "409"
	case 503:
		return "503"
	case 0:
		return "transport"
	}
	return fmt.Sprint(a.HTTP)
}

// Progress lets a fault injector follow a herd.
type Progress struct {
	start time.Time
	total int
	done  atomic.Int64
	n202  atomic.Int64
}

// Total is the number of attempts in the herd.
func (p *Progress) Total() int { return p.total }

// Done is how many attempts have their answer.
func (p *Progress) Done() int { return int(p.done.Load()) }

// Accepted is how many attempts got 202 so far.
func (p *Progress) Accepted() int { return int(p.n202.Load()) }

// Elapsed is the time since the herd started.
func (p *Progress) Elapsed() time.Duration { return time.Since(p.start) }

// WaitDone waits until at least n attempts have their answer.
func (p *Progress) WaitDone(ctx context.Context, n int) error {
	return waitUntil(ctx, func() bool { return p.Done() >= min(n, p.total) })
}

// WaitElapsed waits until d has passed since the herd started.
func (p *Progress) WaitElapsed(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(p.start.Add(d))):
		return nil
	}
}

func waitUntil(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// HerdSpec describes one wave of applications.
type HerdSpec struct {
	Phase string
	// Order lists participant indexes, one entry per attempt, in firing order.
	Order []int
	// Concurrency is the number of parallel connections.
	Concurrency int
	// Spread paces the attempts evenly over this duration (0: as fast as
	// the connections allow), so a fault can land in the middle of the herd.
	Spread time.Duration
}

// Fault runs alongside a herd; it returns after it has put back whatever it
// broke (or with an error).
type Fault func(ctx context.Context, p *Progress) error

// Fire sends the herd and runs fault alongside it; it returns when both are
// done. Attempts are appended to the run.
func (r *Run) Fire(ctx context.Context, spec HerdSpec, fault Fault) error {
	tokens := make(map[int]string, len(spec.Order))
	now := time.Now()
	for _, i := range spec.Order {
		if _, ok := tokens[i]; ok {
			continue
		}
		tok, err := r.S.Minter.Mint(r.Participants[i], now)
		if err != nil {
			return err
		}
		tokens[i] = tok
	}
	conc := max(spec.Concurrency, 1)
	p := &Progress{total: len(spec.Order)}
	results := make([]Attempt, len(spec.Order))
	var next atomic.Int64
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			for {
				k := int(next.Add(1)) - 1
				if k >= len(spec.Order) || ctx.Err() != nil {
					return
				}
				if spec.Spread > 0 {
					due := p.start.Add(time.Duration(int64(spec.Spread) * int64(k) / int64(len(spec.Order))))
					if d := time.Until(due); d > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(d):
						}
					}
				}
				i := spec.Order[k]
				a := Attempt{Participant: i, Phase: spec.Phase, Start: time.Now()}
				resp, err := r.S.API.Apply(ctx, tokens[i])
				a.End = time.Now()
				a.HTTP, a.Code, a.Upstream = resp.HTTPStatus, resp.Envelope.Code, resp.Header.Get("X-Upstream-Addr")
				if err != nil {
					a.Err = err.Error()
					if resp.HTTPStatus == 0 {
						a.Code = "TRANSPORT"
					}
				}
				results[k] = a
				if a.HTTP == 202 {
					p.n202.Add(1)
				}
				p.done.Add(1)
			}
		}()
	}
	var faultErr error
	faultDone := make(chan struct{})
	p.start = time.Now()
	r.Event("herd %q: %d attempts by %d participants, %d connections, spread %s", spec.Phase, len(spec.Order), len(tokens), conc, spec.Spread)
	close(gate)
	go func() {
		defer close(faultDone)
		if fault != nil {
			faultErr = fault(ctx, p)
		}
	}()
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		r.sampleDuring(sampleCtx, 250*time.Millisecond)
	}()
	wg.Wait()
	herdTime := time.Since(p.start)
	<-faultDone
	stopSampling()
	<-sampled
	r.mu.Lock()
	for _, a := range results {
		if !a.Start.IsZero() {
			r.Attempts = append(r.Attempts, a)
		}
	}
	r.mu.Unlock()
	r.Event("herd %q done in %s (%d/%d answered, %d accepted)", spec.Phase, herdTime.Round(time.Millisecond), p.Done(), p.total, p.Accepted())
	if faultErr != nil {
		return fmt.Errorf("fault during %q: %w", spec.Phase, faultErr)
	}
	if ctx.Err() != nil {
		return errors.Join(errors.New("herd interrupted"), ctx.Err())
	}
	return nil
}
