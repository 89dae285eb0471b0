package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/terning-farewell/farewell/pkg/stackclient"
)

// Options tune how one scenario is checked.
type Options struct {
	// SettleTimeout bounds the wait, after the herd and the faults, for every
	// decision, every email, zero lag and every component ready.
	SettleTimeout time.Duration
	// AllowReaccept: a participant may get more than one 202 (the scenario
	// deliberately erased the gateway's memory of earlier applications).
	AllowReaccept bool
	// Refused reports addresses the SMTP server refuses for good: their
	// winners' emails must be dead-lettered with a reason instead.
	Refused func(email string) bool
	// DuplicatesExpected, when set, says why duplicate emails are possible in
	// this scenario (they are then reported, not a violation).
	DuplicatesExpected string
	// Email names participant i (default <prefix>-<i>@chaos.farewell.local).
	Email func(prefix string, i int) string
	// DeadLetterExpected reports a dead letter of this run's participants
	// that the scenario caused on purpose (a poison message): it is noted,
	// not a violation.
	DeadLetterExpected func(d DeadLetter) bool
}

// Run is one scenario's herd against the stack: its participants (emails
// under a prefix unique to the run), the stock it may award, every attempt
// and its answer, and what happened when.
type Run struct {
	S      *Stack
	Name   string
	Prefix string
	// Participants are the emails; an attempt refers to its index here.
	Participants []string
	// Stock is S: the gifts this scenario may award on top of the winners
	// the event had before it (the local event keeps earlier winners).
	Stock         int64
	WinnersBefore int64
	Opts          Options
	Attempts      []Attempt
	// AfterVerify, when set, runs after the checks and before Restore (to
	// repair state the scenario deliberately damaged).
	AfterVerify func(ctx context.Context) error
	// FaultEnd is when the last fault was undone (restart begun); recovery
	// time is measured from here (or from the end of the herd).
	FaultEnd time.Time

	mu         sync.Mutex
	index      map[string]int
	notes      []string
	violations []string
	dlqMark    DLQMark
	started    time.Time
	rebuilds0  float64
}

// NewRun prepares a scenario: waits until the stack is quiet, creates n
// participants under a fresh prefix, sets the stock to winners-so-far + stock,
// opens the window and remembers the dead-letter topics' ends.
func NewRun(ctx context.Context, s *Stack, name string, n int, stock int64, opts Options) (*Run, error) {
	if opts.SettleTimeout <= 0 {
		opts.SettleTimeout = 90 * time.Second
	}
	if opts.Email == nil {
		opts.Email = func(prefix string, i int) string { return fmt.Sprintf("%s-%05d@chaos.farewell.local", prefix, i) }
	}
	var suffix [3]byte
	_, _ = rand.Read(suffix[:])
	r := &Run{
		S: s, Name: name, Opts: opts, started: time.Now(),
		Prefix: fmt.Sprintf("cx%s-%s-%s", time.Now().Format("0102150405"), shortName(name), hex.EncodeToString(suffix[:])),
		index:  map[string]int{},
	}
	for i := 0; i < n; i++ {
		e := strings.ToLower(opts.Email(r.Prefix, i))
		r.Participants = append(r.Participants, e)
		r.index[e] = i
	}
	if err := r.waitQuiet(ctx, "", 60*time.Second); err != nil {
		return nil, err
	}
	mark, err := s.MarkDLQ()
	if err != nil {
		return nil, err
	}
	r.dlqMark = mark
	r.rebuilds0 = s.consumerRebuilds(ctx)
	// Right after a start (or a topology switch) the event's live state may
	// still be rebuilt from MySQL and the admin API answers 503 meanwhile:
	// the preparation is retried for up to a minute.
	var st stackclient.Stats
	for deadline := time.Now().Add(time.Minute); ; {
		err := s.API.OpenWindow(ctx, 24*time.Hour)
		if err != nil {
			err = fmt.Errorf("open the window: %w", err)
		} else if st, err = s.API.Stats(ctx); err != nil {
			err = fmt.Errorf("admin stats (is the stack up? `make run`): %w", err)
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		r.Event("preparing: %v; retrying", err)
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
	r.WinnersBefore = st.Winners
	if w, _, err := s.eventCounts(ctx); err == nil && w != st.Winners {
		r.Notef("before the run Redis counted %d winners but MySQL %d (pre-existing drift)", st.Winners, w)
	}
	if err := r.SetStock(ctx, stock); err != nil {
		return nil, err
	}
	// A replica that was sold out keeps answering 409 from its local flag
	// until its next refresh: let every replica see the new stock first.
	if err := sleep(ctx, 3*s.soldOutRefresh()); err != nil {
		return nil, err
	}
	r.Event("prepared %q: %d participants under %s, stock %d on top of %d earlier winners", name, n, r.Prefix, stock, r.WinnersBefore)
	return r, nil
}

func shortName(name string) string {
	parts := strings.Split(name, "-")
	var b strings.Builder
	for _, p := range parts {
		if p != "" {
			b.WriteString(p[:min(len(p), 4)])
		}
	}
	return b.String()
}

// waitQuiet waits until group (every group when empty) has no lag, so the
// scenario starts from a settled event.
func (r *Run) waitQuiet(ctx context.Context, group string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		lags, err := r.S.Lags(ctx)
		lagText, total := "", int64(0)
		if err == nil {
			lagText, total = behind(filterGroup(lags, group))
		}
		if err == nil && total == 0 {
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("stack not quiet before %s: %w", r.Name, err)
			}
			return fmt.Errorf("stack not quiet before %s (someone else is using it? or a consumer is stuck): %s", r.Name, lagText)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// SetStock lets the scenario award stock more gifts from now on:
// total = winners so far (outside this run's herd) + stock.
func (r *Run) SetStock(ctx context.Context, stock int64) error {
	if err := r.S.API.SetStock(ctx, r.WinnersBefore+stock); err != nil {
		return err
	}
	r.Stock = stock
	r.Event("stock set to %d (S=%d)", r.WinnersBefore+stock, stock)
	return nil
}

// soldOutRefresh is how often the gateways refresh their local sold-out
// flag from Redis (FAREWELL_SOLDOUT_REFRESH).
func (s *Stack) soldOutRefresh() time.Duration {
	if d, err := time.ParseDuration(s.Env["FAREWELL_SOLDOUT_REFRESH"]); err == nil && d > 0 {
		return d
	}
	return 200 * time.Millisecond
}

// Event logs a line of the scenario's timeline.
func (r *Run) Event(format string, args ...any) {
	r.S.Logf("[%s] %s", r.Name, fmt.Sprintf(format, args...))
}

// Notef records an observation for the report.
func (r *Run) Notef(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Violationf records a broken invariant.
func (r *Run) Violationf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

// FaultUndone marks the moment the fault was undone (restart begun).
func (r *Run) FaultUndone() {
	r.mu.Lock()
	r.FaultEnd = time.Now()
	r.mu.Unlock()
	r.Event("fault undone: recovery clock starts")
}

// OnceEach is every participant once, shuffled.
func (r *Run) OnceEach() []int { return r.Repeats(1, 1) }

// Repeats has each participant apply between lo and hi times, shuffled.
func (r *Run) Repeats(lo, hi int) []int {
	var order []int
	for i := range r.Participants {
		n := lo
		if hi > lo {
			n += mrand.IntN(hi - lo + 1)
		}
		for k := 0; k < n; k++ {
			order = append(order, i)
		}
	}
	mrand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	return order
}

// Range is participants [from, to), once each, shuffled.
func (r *Run) Range(from, to int) []int {
	var order []int
	for i := from; i < to && i < len(r.Participants); i++ {
		order = append(order, i)
	}
	mrand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	return order
}

// answers summarises every participant's attempts so far.
type answers struct {
	accepted  map[int]int // participant -> number of 202s
	conflicts map[int]bool
	told503   map[int]bool
	last      map[int]Attempt
}

func (r *Run) answers() answers {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := answers{accepted: map[int]int{}, conflicts: map[int]bool{}, told503: map[int]bool{}, last: map[int]Attempt{}}
	for _, x := range r.Attempts {
		switch x.HTTP {
		case 202:
			a.accepted[x.Participant]++
		case 409:
			a.conflicts[x.Participant] = true
		case 503:
			a.told503[x.Participant] = true
		}
		if l, ok := a.last[x.Participant]; !ok || x.End.After(l.End) {
			a.last[x.Participant] = x
		}
	}
	return a
}

// RetryUnanswered is what a well-behaved client does after a 5xx or a broken
// connection: every participant that never got a 202 or a 409 tries again
// once. Then any participant left with an admission marker but no decision
// (the gateway admitted it and then could not publish or undo) retries after
// the admission grace, which must re-publish it (docs/design.md guarantee 3).
func (r *Run) RetryUnanswered(ctx context.Context) error {
	a := r.answers()
	var again []int
	for i := range r.Participants {
		if a.accepted[i] == 0 && !a.conflicts[i] {
			if _, tried := a.last[i]; tried {
				again = append(again, i)
			}
		}
	}
	if len(again) > 0 {
		if err := r.Fire(ctx, HerdSpec{Phase: "retry", Order: again, Concurrency: 64}, nil); err != nil {
			return err
		}
	}
	// Let the consumer decide whatever is in flight before calling anything stranded.
	_ = r.waitQuiet(ctx, r.S.consumerGroup(), 60*time.Second)
	stranded, err := r.stranded(ctx)
	if err != nil || len(stranded) == 0 {
		return err
	}
	grace := 15 * time.Second
	if v := r.S.Env["FAREWELL_ADMISSION_GRACE"]; v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			grace = d
		}
	}
	r.Notef("%d participants had an admission marker but no decision (gateway admitted, publish not acknowledged): retried after the %s grace", len(stranded), grace)
	r.Event("%d stranded admissions: waiting out the %s grace, then retrying them", len(stranded), grace)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(grace + time.Second):
	}
	if err := r.Fire(ctx, HerdSpec{Phase: "after-grace", Order: stranded, Concurrency: 64}, nil); err != nil {
		return err
	}
	// A retry cannot take an admission over once the event is sold out (the
	// gateways answer from memory); stock-consumer decides such admissions
	// itself after FAREWELL_STRANDED_AFTER. Wait for that.
	strandedAfter := 20 * time.Second
	if v := r.S.Env["FAREWELL_STRANDED_AFTER"]; v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			strandedAfter = d
		}
	}
	deadline := time.Now().Add(strandedAfter + 5*time.Second)
	for time.Now().Before(deadline) {
		left, err := r.stranded(ctx)
		if err != nil || len(left) == 0 {
			if err == nil {
				r.Event("stranded admissions decided by stock-consumer")
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// stranded lists participants with an admission marker in Redis but no
// decision.
func (r *Run) stranded(ctx context.Context) ([]int, error) {
	applied, err := r.S.hmget(ctx, r.S.Keys.Applied, r.Participants)
	if err != nil {
		return nil, err
	}
	decided, err := r.S.hmget(ctx, r.S.Keys.Decisions, r.Participants)
	if err != nil {
		return nil, err
	}
	var out []int
	for i, e := range r.Participants {
		if applied[e] != "" && decided[e] == "" {
			out = append(out, i)
		}
	}
	return out, nil
}
