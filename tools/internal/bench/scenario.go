// Package bench is the engine of `make bench` (tools/cmd/bench): it fires
// herds of pre-minted participants at the running local stack through nginx
// with vegeta, follows the consequences (decisions persisted in MySQL, winner
// emails in Mailpit, Kafka consumer lag, CPU and memory of every process) and
// writes the report and charts of docs/benchmarks.md.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/stackclient"
	"github.com/terning-farewell/farewell/pkg/token"
	"github.com/terning-farewell/farewell/tools/internal/benchbare"
)

// NotMeasured marks a duration the scenario could not measure.
const NotMeasured = time.Duration(math.MinInt64)

// ApplyPath is the participant route under test.
const ApplyPath = "/api/event/apply"

// Scenario is one load shape.
type Scenario struct {
	Name         string
	Path         string // ApplyPath, or benchbare.Path for the ceiling
	Participants int
	Duplicates   float64 // share of participants that send a second apply
	Invalid      float64 // extra requests with broken tokens, as a share of participants
	Conns        int
	Stock        int64 // gifts of this round (event scenarios only)
	// URL is where the requests go when not through nginx (Stack.BaseURL):
	// one apply-gateway replica, or the bare handler served the same way.
	URL string `json:",omitempty"`
	// Ceiling names the bare-handler scenario of the same shape that this
	// one is compared with, in the same run.
	Ceiling string `json:",omitempty"`
	// AuthShape sends like the auth herd (JSON bodies, one loopback address
	// per connection): the auth phases and their ceiling.
	AuthShape bool `json:",omitempty"`
	// SoldOut runs the event with no gift left from the first request on:
	// every apply takes the shed path (the gateways' sold-out flag), and a
	// 202 or a decision is an error.
	SoldOut bool `json:",omitempty"`
}

// Event reports whether the scenario goes through the real system (and so has
// decisions and emails to wait for).
func (s Scenario) Event() bool { return s.Path == ApplyPath || s.Direct() }

// Bare reports whether the scenario hits the bare handler (a ceiling).
func (s Scenario) Bare() bool { return s.Path == benchbare.Path }

// Auth reports whether the scenario is a phase of the auth herd.
func (s Scenario) Auth() bool {
	return s.AuthShape || s.Path == AuthCodesPath || s.Path == AuthVerifyPath
}

// Base is the URL the scenario's requests go to.
func (s Scenario) Base(st *Stack) string {
	if s.URL != "" {
		return s.URL
	}
	return st.BaseURL
}

// Direct reports whether the scenario writes to Kafka instead of calling HTTP.
func (s Scenario) Direct() bool { return s.Path == DrainPath }

// Requests is the number of requests the scenario sends.
func (s Scenario) Requests() int {
	return s.Participants + int(float64(s.Participants)*s.Duplicates+0.5) + int(float64(s.Participants)*s.Invalid+0.5)
}

// Minter signs participant tokens with the stack's local secret.
type Minter interface {
	Mint(email string, now time.Time) (string, error)
}

var _ Minter = (*token.Codec)(nil)

// Stack is what scenarios need of the running stack.
type Stack struct {
	BaseURL   string
	Client    *stackclient.Client
	Mailpit   *stackclient.Mailpit
	Minter    Minter
	Decisions *Decisions
	Consumer  *Metrics
	Procs     []Proc
	// Profiles are the services whose CPU profile (and a heap snapshot
	// halfway) is captured during a scenario, when their /debug/pprof answers
	// (FAREWELL_PPROF=true).
	Profiles       []ProfileTarget
	ProfileSeconds int
	OutDir         string
	Settle         time.Duration // how long to wait for decisions after the last answer
	EmailWait      time.Duration // how long to wait for the winners' emails after that
	RequestTimeout time.Duration
	Log            io.Writer
	// Brokers and EventID are for the drain scenario's direct writes.
	Brokers []string
	EventID string
	// Gateways are the apply-gateway instances whose Go runtime metrics
	// (GC CPU share) are read around each scenario.
	Gateways []*Metrics

	// codes are the verification codes of the latest auth-codes round, for
	// the auth-verify round that follows it in the same run.
	codes *authRound
}

// ProfileTarget is a service instance with pprof endpoints.
type ProfileTarget struct {
	Scenario string // which scenario to profile, e.g. herd
	Name     string // instance, e.g. apply-gateway-1
	URL      string // e.g. http://127.0.0.1:8083
}

// Point is one sample of a time series; T is seconds since the attack began.
type Point struct {
	T float64 `json:"t"`
	V float64 `json:"v"`
}

// ProcResult is one process's consumption during a scenario.
type ProcResult struct {
	Name       string  `json:"name"`
	Service    bool    `json:"service"`
	CPUSeconds float64 `json:"cpuSeconds"`
	// AnswerCPUSeconds is the part of CPUSeconds spent from the first
	// request to the last answer (the client's window), when the scenario
	// sends requests.
	AnswerCPUSeconds float64 `json:"answerCpuSeconds"`
	PeakRSSMiB       float64 `json:"peakRssMiB"`
}

// Result is everything measured in one scenario of one run.
type Result struct {
	Run          int    `json:"run"`
	Scenario     string `json:"scenario"`
	Prefix       string `json:"prefix"`
	Requests     int    `json:"requests"`
	Participants int    `json:"participants"`
	Conns        int    `json:"conns"`
	Stock        int64  `json:"stock"`
	Bare         bool   `json:"bare,omitempty"`   // against the bare handler
	Direct       bool   `json:"direct,omitempty"` // written straight to Kafka
	Auth         bool   `json:"auth,omitempty"`   // a phase of the auth herd

	Elapsed    time.Duration `json:"elapsedNs"`
	Throughput float64       `json:"throughput"`
	P50        time.Duration `json:"p50Ns"`
	P95        time.Duration `json:"p95Ns"`
	// AcceptedP95 and OtherP95 split P95 by answer: the 202s (each waited
	// for its acks=all acknowledgement) and all the others.
	AcceptedP95 time.Duration  `json:"acceptedP95Ns,omitempty"`
	OtherP95    time.Duration  `json:"otherP95Ns,omitempty"`
	P99         time.Duration  `json:"p99Ns"`
	Max         time.Duration  `json:"maxNs"`
	ByStatus    map[string]int `json:"byStatus"`
	Status5xx   int            `json:"status5xx"`
	Errors      int            `json:"errors"`

	Accepted          int           `json:"accepted"`
	DistinctAccepted  int           `json:"distinctAccepted"`
	DuplicateAccepted int           `json:"duplicateAccepted"`
	Last202           time.Duration `json:"last202Ns"`

	Persisted           int64         `json:"persisted"`
	Winners             int64         `json:"winners"`
	AdminWinners        int64         `json:"adminWinners"`
	PersistedAll        bool          `json:"persistedAll"`
	PersistAfterLast202 time.Duration `json:"persistAfterLast202Ns"`
	PeakPersistRate     float64       `json:"peakPersistRate"`
	PersistRate         float64       `json:"persistRate"` // from the first to the last decision
	MaxLag              int64         `json:"maxLag"`

	// Consumer batches during the scenario: how many, their mean size and
	// the mean time stock-consumer spent deciding, persisting and publishing one.
	Batches       float64 `json:"batches"`
	MeanBatch     float64 `json:"meanBatch"`
	MeanBatchTime float64 `json:"meanBatchSeconds"`
	// MeanPhase splits MeanBatchTime by step (farewell_decision_phase_seconds).
	MeanPhase map[string]float64 `json:"meanPhaseSeconds,omitempty"`
	// DecidedBy is how many decisions each stock-consumer endpoint
	// (host:port) made during the scenario; Partitions the applications
	// topic's partition count (drain only), which bounds how many decide.
	DecidedBy  map[string]float64 `json:"decidedBy,omitempty"`
	Partitions int                `json:"partitions,omitempty"`

	Emails               int           `json:"emails"`
	EmailsAll            bool          `json:"emailsAll"`
	EmailsAfterDecisions time.Duration `json:"emailsAfterDecisionsNs"`
	EmailsAfterLast202   time.Duration `json:"emailsAfterLast202Ns"`
	NotifierRunning      bool          `json:"notifierRunning"`

	Procs []ProcResult `json:"procs"`
	// BusyCPU is the CPU time all of the machine's CPUs worked during the
	// scenario; OtherCPU what of it went to processes outside the stack and
	// the bench (the shared machine's other work: builds, tests).
	BusyCPU  float64 `json:"busyCpuSeconds"`
	OtherCPU float64 `json:"otherCpuSeconds"`
	// AnswerBusyCPU is the machine's busy CPU time from the first request to
	// the last answer (0 when not measured); AnswerCPUSeconds of the
	// processes split it.
	AnswerBusyCPU float64  `json:"answerBusyCpuSeconds"`
	Profiles      []string `json:"profiles,omitempty"`
	Notes         []string `json:"notes,omitempty"`
	// Load is the machine's 1-minute load average at the end of the scenario.
	Load float64 `json:"load"`
	// GCShare is the share of the CPU apply-gateway used (runtime/metrics:
	// available minus idle) that went to the garbage collector during the
	// scenario, both replicas together; -1 when not read.
	GCShare float64 `json:"gcShare"`

	// Auth herd figures (auth-codes): code emails in Mailpit, their rate from
	// the first request to the last arrival, and the request → arrival
	// latency per participant.
	AuthEmails    int           `json:"authEmails,omitempty"`
	AuthEmailRate float64       `json:"authEmailRate,omitempty"`
	AuthEmailP50  time.Duration `json:"authEmailP50Ns,omitempty"`
	AuthEmailP95  time.Duration `json:"authEmailP95Ns,omitempty"`
	AuthEmailMax  time.Duration `json:"authEmailMaxNs,omitempty"`
	// AuthTokens counts verify answers that carried a participant token.
	AuthTokens int `json:"authTokens,omitempty"`

	RateSeries      []Point `json:"rateSeries"`
	LagSeries       []Point `json:"lagSeries,omitempty"`
	PersistedSeries []Point `json:"persistedSeries,omitempty"`

	// LatencyCDF is the latency distribution for the chart: X ms, V share (%).
	LatencyCDF []Point `json:"latencyCdf,omitempty"`
}

// selfProc names the load generator's own row among the processes.
const selfProc = "bench (load generator)"

// Proc returns the figures of the named process, if any.
func (r *Result) Proc(name string) (ProcResult, bool) {
	for _, p := range r.Procs {
		if p.Name == name {
			return p, true
		}
	}
	return ProcResult{}, false
}

// restoreWait bounds how long an admin change may be refused with 503
// while stock-consumer loads the event state (a fresh stack: until the
// consumer group has given it its partitions).
const restoreWait = 90 * time.Second

// whileRestoring runs change until it is not refused with 503, for up to
// restoreWait, saying once that it waits.
func whileRestoring(ctx context.Context, log io.Writer, change func() error) error {
	deadline := time.Now().Add(restoreWait)
	said := false
	for {
		err := change()
		var se *stackclient.StatusError
		if err == nil || !errors.As(err, &se) || se.HTTPStatus != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return err
		}
		if !said {
			fmt.Fprintf(log, "  waiting up to %s for the stack to accept admin changes (%v)\n", restoreWait, err)
			said = true
		}
		sleep(ctx, 500*time.Millisecond)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// RunScenario runs s once against the stack; prefix makes this round's emails
// unique, so MySQL and Mailpit counts see only them.
func RunScenario(ctx context.Context, st *Stack, s Scenario, run int, prefix string) (*Result, error) {
	res := &Result{Run: run, Scenario: s.Name, Prefix: prefix, Participants: s.Participants, Conns: s.Conns, Stock: s.Stock,
		Bare: s.Bare(), Direct: s.Direct(), Auth: s.Auth() && !s.Bare(),
		PersistAfterLast202: NotMeasured, EmailsAfterDecisions: NotMeasured, EmailsAfterLast202: NotMeasured}
	var before stackclient.Stats
	if s.Event() {
		var err error
		if before, err = st.Client.Stats(ctx); err != nil {
			return nil, fmt.Errorf("admin stats (is the stack up? `make run`): %w", err)
		}
		// The local event keeps earlier winners; stock counts them.
		if err := whileRestoring(ctx, st.Log, func() error { return st.Client.SetStock(ctx, before.Winners+s.Stock) }); err != nil {
			return nil, err
		}
		if err := whileRestoring(ctx, st.Log, func() error { return st.Client.OpenWindow(ctx, 2*time.Hour) }); err != nil {
			return nil, err
		}
		// The gateways refresh their local sold-out flag every 200 ms.
		sleep(ctx, time.Second)
	}
	var attempts []Attempt
	var err error
	if !s.Auth() {
		if attempts, err = mintAttempts(st.Minter, s, prefix); err != nil {
			return nil, err
		}
	}
	res.Requests = s.Requests()

	// Resource accounting starts here: peaks reset, CPU counters read.
	peakReset := true
	cpu0 := map[string]Usage{}
	for _, p := range st.Procs {
		if err := ResetPeak(p); err != nil {
			peakReset = false
		}
		cpu0[p.Name] = ReadUsage(p)
	}
	if !peakReset {
		res.Notes = append(res.Notes, "could not reset VmHWM (clear_refs): peak RSS is the 250 ms sampled maximum")
	}
	busy0 := MachineBusyTicks()
	gc0 := readGC(ctx, st.Gateways)
	consumer0, consumerErr := st.Consumer.Consumer(ctx, kafka.TopicApplications)
	smp := startSampler(ctx, st)

	profCtx, profCancel := context.WithCancel(ctx)
	defer profCancel()
	var (
		profWG  sync.WaitGroup
		profMu  sync.Mutex
		profErr []string
	)
	for _, pt := range st.Profiles {
		if pt.Scenario != s.Name || !pprofEnabled(ctx, pt.URL) {
			continue
		}
		base := filepath.Join(st.OutDir, fmt.Sprintf("run%d-%s-%s", run+1, s.Name, pt.Name))
		profWG.Add(2)
		go func() {
			defer profWG.Done()
			err := captureProfile(profCtx, pt.URL, "profile?seconds="+fmt.Sprint(st.ProfileSeconds), base+".cpu.pprof", st.ProfileSeconds)
			profMu.Lock()
			defer profMu.Unlock()
			if err != nil {
				profErr = append(profErr, fmt.Sprintf("cpu profile %s: %v", pt.Name, err))
				return
			}
			res.Profiles = append(res.Profiles, base+".cpu.pprof")
		}()
		go func() {
			defer profWG.Done()
			// Halfway through the CPU profile, the heap is near its peak.
			sleep(profCtx, time.Duration(st.ProfileSeconds)*time.Second/2)
			err := captureProfile(profCtx, pt.URL, "heap", base+".heap.pprof", 0)
			profMu.Lock()
			defer profMu.Unlock()
			if err != nil {
				profErr = append(profErr, fmt.Sprintf("heap profile %s: %v", pt.Name, err))
				return
			}
			res.Profiles = append(res.Profiles, base+".heap.pprof")
		}()
	}

	// answerCPU snapshots every process right after the last answer.
	answerCPU := map[string]Usage{}
	var answerBusy uint64
	snapshotAnswers := func() {
		answerBusy = MachineBusyTicks()
		for _, p := range st.Procs {
			answerCPU[p.Name] = ReadUsage(p)
		}
		answerCPU[selfProc] = ReadUsage(self())
	}

	var began time.Time
	if s.Direct() {
		if res.Partitions, err = topicPartitions(ctx, st.Brokers, kafka.TopicApplications); err != nil {
			smp.stop()
			return nil, err
		}
		fmt.Fprintf(st.Log, "  %-5s %d applications written straight to %s (%d partitions)\n", s.Name, len(attempts), kafka.TopicApplications, res.Partitions)
		var took time.Duration
		began, took, err = publishApplications(ctx, st.Brokers, st.EventID, attempts)
		if err != nil {
			smp.stop()
			return nil, err
		}
		res.Elapsed, res.Last202 = took, took
		res.Throughput = float64(len(attempts)) / took.Seconds()
		res.Accepted, res.DistinctAccepted = len(attempts), len(attempts)
		res.ByStatus = map[string]int{"acknowledged by Kafka": len(attempts)}
		fmt.Fprintf(st.Log, "        acknowledged in %s (%.0f/s)\n", took.Round(time.Millisecond), res.Throughput)
	} else if s.Auth() {
		if began, err = runAuth(ctx, st, s, run, prefix, res); err != nil {
			smp.stop()
			return nil, err
		}
	} else {
		fmt.Fprintf(st.Log, "  %-5s %d requests (%d participants) over %d connections -> %s%s\n",
			s.Name, len(attempts), s.Participants, s.Conns, s.Base(st), s.Path)
		var outcomes []Outcome
		outcomes, began, err = Attack(ctx, s.Base(st), s.Path, attempts, s.Conns, st.RequestTimeout)
		if err != nil {
			smp.stop()
			return nil, err
		}
		snapshotAnswers()
		summarizeOutcomes(res, s, attempts, outcomes)
		fmt.Fprintf(st.Log, "        answered in %s: %.0f req/s, p99 %s, %v\n",
			res.Elapsed.Round(time.Millisecond), res.Throughput, res.P99.Round(100*time.Microsecond), res.ByStatus)
	}

	switch {
	case s.SoldOut:
		// Nothing may have reached stock-consumer: count once the answers
		// are in, after a moment for anything that slipped through to land.
		sleep(ctx, time.Second)
		n, err := st.Decisions.Count(ctx, prefix+"-")
		if err != nil {
			res.Notes = append(res.Notes, "count decisions: "+err.Error())
		}
		res.Persisted = n
		if n > 0 {
			res.Errors += int(n)
			res.Notes = append(res.Notes, fmt.Sprintf("%d decisions in a sold-out event", n))
		}
	case s.Event():
		res.NotifierRunning = Running(st.Procs, "notifier")
		waitForConsequences(ctx, st, res, prefix, smp, began, min(s.Stock, int64(res.DistinctAccepted)))
		if after, err := st.Client.Stats(ctx); err == nil {
			res.AdminWinners = after.Winners - before.Winners
		}
	}
	samples := smp.stop()
	res.BusyCPU = float64(MachineBusyTicks()-busy0) / clockTicks
	res.Load = LoadAverage()
	res.GCShare = -1
	if gc1 := readGC(ctx, st.Gateways); gc0.ok && gc1.ok && gc1.total > gc0.total {
		res.GCShare = (gc1.gc - gc0.gc) / (gc1.total - gc0.total)
	}
	if consumer1, err := st.Consumer.Consumer(ctx, kafka.TopicApplications); err == nil && consumerErr == nil && consumer1.Batches > consumer0.Batches {
		res.Batches = consumer1.Batches - consumer0.Batches
		res.MeanBatch = (consumer1.BatchMessages - consumer0.BatchMessages) / res.Batches
		res.MeanBatchTime = (consumer1.BatchSeconds - consumer0.BatchSeconds) / res.Batches
		res.MeanPhase = map[string]float64{}
		for k, v := range consumer1.PhaseSeconds {
			res.MeanPhase[k] = (v - consumer0.PhaseSeconds[k]) / res.Batches
		}
		res.DecidedBy = map[string]float64{}
		for k, v := range consumer1.DecisionsAt {
			res.DecidedBy[k] = v - consumer0.DecisionsAt[k]
		}
	}
	profWG.Wait()
	res.Notes = append(res.Notes, profErr...)

	for _, p := range st.Procs {
		u := ReadUsage(p)
		if u.CPUTicks < cpu0[p.Name].CPUTicks {
			// The process was replaced during the scenario.
			res.Notes = append(res.Notes, p.Name+" restarted during the scenario: its CPU and RSS are partial")
			u.CPUTicks = cpu0[p.Name].CPUTicks
		}
		peak := u.HWMKiB
		if !peakReset || samples.maxRSS[p.Name] > peak {
			peak = max(peak, samples.maxRSS[p.Name])
		}
		pr := ProcResult{
			Name: p.Name, Service: p.Service,
			CPUSeconds: float64(u.CPUTicks-cpu0[p.Name].CPUTicks) / clockTicks,
			PeakRSSMiB: float64(peak) / 1024,
		}
		if a, ok := answerCPU[p.Name]; ok && a.CPUTicks >= cpu0[p.Name].CPUTicks {
			pr.AnswerCPUSeconds = float64(a.CPUTicks-cpu0[p.Name].CPUTicks) / clockTicks
		}
		res.Procs = append(res.Procs, pr)
	}
	self := ReadUsage(self())
	selfResult := ProcResult{Name: selfProc,
		CPUSeconds: float64(self.CPUTicks-smp.selfCPU0.CPUTicks) / clockTicks, PeakRSSMiB: float64(self.RSSKiB) / 1024}
	if a, ok := answerCPU[selfProc]; ok {
		selfResult.AnswerCPUSeconds = float64(a.CPUTicks-smp.selfCPU0.CPUTicks) / clockTicks
	}
	res.Procs = append(res.Procs, selfResult)
	if answerBusy > busy0 {
		res.AnswerBusyCPU = float64(answerBusy-busy0) / clockTicks
	}

	res.OtherCPU = res.BusyCPU
	for _, p := range res.Procs {
		res.OtherCPU -= p.CPUSeconds
	}
	res.OtherCPU = max(res.OtherCPU, 0)

	offset := smp.t0.Sub(began).Seconds()
	for _, p := range samples.lag {
		res.LagSeries = append(res.LagSeries, Point{T: p.T + offset, V: p.V})
		res.MaxLag = max(res.MaxLag, int64(p.V))
	}
	for _, p := range samples.decided {
		res.PersistedSeries = append(res.PersistedSeries, Point{T: p.T + offset, V: p.V})
	}
	res.PeakPersistRate = peakRate(res.PersistedSeries, time.Second)
	return res, nil
}

// mintAttempts signs one token per participant (before the clock starts),
// adds the duplicates and invalid tokens, and shuffles.
func mintAttempts(minter Minter, s Scenario, prefix string) ([]Attempt, error) {
	now := time.Now()
	attempts := make([]Attempt, 0, s.Requests())
	for i := 0; i < s.Participants; i++ {
		email := fmt.Sprintf("%s-%06d@bench.farewell.local", prefix, i)
		tok, err := minter.Mint(email, now)
		if err != nil {
			return nil, fmt.Errorf("mint token: %w", err)
		}
		attempts = append(attempts, Attempt{Email: email, Token: tok})
	}
	dups := int(float64(s.Participants)*s.Duplicates + 0.5)
	for i := 0; i < dups; i++ {
		attempts = append(attempts, attempts[rand.IntN(s.Participants)])
	}
	invalid := int(float64(s.Participants)*s.Invalid + 0.5)
	for i := 0; i < invalid; i++ {
		email := fmt.Sprintf("%s-x%06d@bench.farewell.local", prefix, i)
		tok, err := minter.Mint(email, now)
		if err != nil {
			return nil, fmt.Errorf("mint token: %w", err)
		}
		// A flipped signature character: well-formed, but not ours.
		b := []byte(tok)
		b[len(b)-2] ^= 0x01
		attempts = append(attempts, Attempt{Email: email, Token: string(b), Invalid: true})
	}
	rand.Shuffle(len(attempts), func(i, j int) { attempts[i], attempts[j] = attempts[j], attempts[i] })
	return attempts, nil
}

// summarizeOutcomes computes latency, throughput and counts.
func summarizeOutcomes(res *Result, s Scenario, attempts []Attempt, outcomes []Outcome) {
	res.ByStatus = map[string]int{}
	accepted := map[int32]bool{}
	acceptedEmail := map[string]bool{}
	var first, last time.Duration = -1, 0
	lat := make([]time.Duration, 0, len(outcomes))
	var acceptedLat, otherLat []time.Duration
	buckets := map[int]int{}
	const bucket = 100 * time.Millisecond
	for _, o := range outcomes {
		if first < 0 || o.Start < first {
			first = o.Start
		}
		last = max(last, o.End())
		key := o.Code
		if o.Status > 0 {
			key = fmt.Sprintf("%d %s", o.Status, o.Code)
			lat = append(lat, o.Latency)
			buckets[int(o.End()/bucket)]++
			if o.Status == http.StatusAccepted {
				acceptedLat = append(acceptedLat, o.Latency)
			} else {
				otherLat = append(otherLat, o.Latency)
			}
		}
		res.ByStatus[key]++
		invalid := o.Attempt >= 0 && attempts[o.Attempt].Invalid
		switch {
		case o.Status == http.StatusAccepted && s.SoldOut:
			// A gift that did not exist.
			res.Accepted++
			res.Errors++
		case o.Status == http.StatusAccepted:
			res.Accepted++
			res.Last202 = max(res.Last202, o.End())
			if o.Attempt >= 0 {
				email := attempts[o.Attempt].Email
				if acceptedEmail[email] {
					res.DuplicateAccepted++
				}
				acceptedEmail[email] = true
				accepted[o.Attempt] = true
			}
		case o.Status >= 500:
			res.Status5xx++
			res.Errors++
		case o.Status == http.StatusConflict && s.Event() && (o.Code == "EVENT_CLOSED" || o.Code == "ALREADY_APPLIED"):
			// The correct answer after sell-out, and to a duplicate.
		case o.Status == http.StatusOK && s.Auth():
			// A code sent, or a code verified.
		case o.Status == http.StatusUnauthorized && invalid:
			// The correct answer to a broken token.
		default:
			res.Errors++
		}
	}
	res.DistinctAccepted = len(acceptedEmail)
	if first >= 0 {
		res.Elapsed = last - first
	}
	answered := len(lat)
	if res.Elapsed > 0 {
		res.Throughput = float64(answered) / res.Elapsed.Seconds()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.LatencyCDF = cdf(lat, 400)
	res.P50, res.P95, res.P99 = quantile(lat, 0.50), quantile(lat, 0.95), quantile(lat, 0.99)
	slices.Sort(acceptedLat)
	slices.Sort(otherLat)
	res.AcceptedP95, res.OtherP95 = quantile(acceptedLat, 0.95), quantile(otherLat, 0.95)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	n := int(last/bucket) + 1
	for i := 0; i < n; i++ {
		res.RateSeries = append(res.RateSeries, Point{T: (time.Duration(i)*bucket + bucket/2).Seconds(), V: float64(buckets[i]) / bucket.Seconds()})
	}
}

// cdf samples the distribution of sorted latencies at about n points
// (T: milliseconds, V: share answered in percent).
func cdf(sorted []time.Duration, n int) []Point {
	if len(sorted) == 0 {
		return nil
	}
	out := make([]Point, 0, n+1)
	for i := 0; i <= n; i++ {
		idx := min(i*(len(sorted)-1)/n, len(sorted)-1)
		out = append(out, Point{T: float64(sorted[idx]) / float64(time.Millisecond), V: 100 * float64(idx+1) / float64(len(sorted))})
	}
	return out
}

// quantile of sorted values, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// waitForConsequences waits, after the last answer, until MySQL holds a
// decision for every distinct 202'd participant and Mailpit every winner's
// email. The moments are then read from the data itself, not from when the
// polls happened to look: decided_at is stamped by stock-consumer as it
// decides a batch, right before that batch's multi-row INSERT, and Mailpit
// stamps each message as it receives it. The machine's clock is shared.
func waitForConsequences(ctx context.Context, st *Stack, res *Result, prefix string, smp *sampler, began time.Time, wantWinners int64) {
	want := int64(res.DistinctAccepted)
	like := prefix + "-"
	deadline := time.Now().Add(st.Settle)
	lastCount := time.Time{}
	for {
		// The consumer's decision counter is free to read; MySQL is counted
		// once the counter says the work is done (or every 2 s in case the
		// counter misses something, e.g. after a consumer restart).
		if smp.decidedSoFar() >= float64(want) || time.Since(lastCount) > 2*time.Second {
			lastCount = time.Now()
			if total, err := st.Decisions.Count(ctx, like); err == nil {
				res.Persisted = total
				if total >= want {
					res.PersistedAll = true
					break
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("only %d of %d decisions persisted %s after the last answer", res.Persisted, want, st.Settle))
			return
		}
		sleep(ctx, sampleEvery)
	}
	last202 := began.Add(res.Last202)
	winners, err := st.Decisions.Winners(ctx, like)
	if err != nil {
		res.Notes = append(res.Notes, "count winners: "+err.Error())
		return
	}
	res.Winners = winners
	if winners != wantWinners {
		res.Notes = append(res.Notes, fmt.Sprintf("winners %d, expected exactly %d", winners, wantWinners))
	}
	first, last, err := st.Decisions.DecidedSpan(ctx, like, false)
	if err != nil {
		res.Notes = append(res.Notes, "decided_at span: "+err.Error())
		return
	}
	if d := time.Since(last); d < -time.Minute || d > time.Hour {
		res.Notes = append(res.Notes, fmt.Sprintf("decided_at %s is far from this machine's clock: persistence times not derived", last))
		return
	}
	// Negative when the last decision was stamped before the last 202 reached
	// the client (its answer waited in the queues of nginx and the gateway).
	res.PersistAfterLast202 = last.Sub(last202)
	// A span this short is one or two batches: no rate to speak of.
	if span := last.Sub(first); span >= 200*time.Millisecond {
		res.PersistRate = float64(res.Persisted) / span.Seconds()
	}
	_, winnersDecided, err := st.Decisions.DecidedSpan(ctx, like, true)
	if err != nil || winners == 0 {
		return
	}

	if !res.NotifierRunning {
		res.Notes = append(res.Notes, "notifier is not running: no winner emails to wait for")
		return
	}
	deadline = time.Now().Add(st.EmailWait)
	mail := MailpitSearch{URL: st.Mailpit.URL, HTTP: st.Mailpit.HTTP}
	query := "to:" + prefix
	for {
		n, newest, err := mail.Newest(ctx, query)
		if err == nil {
			res.Emails = n
			if int64(n) >= winners {
				res.EmailsAll = true
				res.EmailsAfterDecisions = newest.Sub(winnersDecided)
				res.EmailsAfterLast202 = newest.Sub(last202)
				break
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("only %d of %d winner emails in Mailpit %s after the decisions", res.Emails, winners, st.EmailWait))
			return
		}
		sleep(ctx, sampleEvery)
	}
	// A duplicate email would show up right after; look once more.
	sleep(ctx, 500*time.Millisecond)
	if n, _, err := mail.Newest(ctx, query); err == nil {
		res.Emails = n
	}
}

// peakRate is the fastest growth of a cumulative series over any window of at
// least w.
func peakRate(series []Point, w time.Duration) float64 {
	best := 0.0
	j := 0
	for i := range series {
		for j < len(series) && series[j].T-series[i].T < w.Seconds() {
			j++
		}
		if j == len(series) {
			break
		}
		dt := series[j].T - series[i].T
		best = max(best, (series[j].V-series[i].V)/dt)
	}
	return best
}

// sampler follows the consumer's lag and decision counter and every
// process's RSS every 250 ms while a scenario runs. It reads only cheap
// sources (/metrics, /proc), so sampling does not load MySQL.
type sampler struct {
	cancel   context.CancelFunc
	done     chan samples
	t0       time.Time
	selfCPU0 Usage
	decided  atomic.Uint64 // math.Float64bits of decisions since the start
}

type samples struct {
	lag, decided []Point
	maxRSS       map[string]uint64
}

const sampleEvery = 250 * time.Millisecond

func startSampler(ctx context.Context, st *Stack) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	sm := &sampler{cancel: cancel, done: make(chan samples, 1), t0: time.Now(), selfCPU0: ReadUsage(self())}
	base := -1.0
	if f, err := st.Consumer.Consumer(ctx, kafka.TopicApplications); err == nil {
		base = f.Decisions
	}
	go func() {
		out := samples{maxRSS: map[string]uint64{}}
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			now := time.Since(sm.t0).Seconds()
			if f, err := st.Consumer.Consumer(ctx, kafka.TopicApplications); err == nil {
				out.lag = append(out.lag, Point{T: now, V: float64(f.Lag)})
				if base < 0 || f.Decisions < base {
					base = f.Decisions // first good scrape, or the consumer restarted
				}
				out.decided = append(out.decided, Point{T: now, V: f.Decisions - base})
				sm.decided.Store(math.Float64bits(f.Decisions - base))
			}
			for _, p := range st.Procs {
				out.maxRSS[p.Name] = max(out.maxRSS[p.Name], ReadUsage(p).RSSKiB)
			}
			select {
			case <-ctx.Done():
				sm.done <- out
				return
			case <-t.C:
			}
		}
	}()
	return sm
}

// decidedSoFar is the consumer's new decisions since the sampler started.
func (sm *sampler) decidedSoFar() float64 { return math.Float64frombits(sm.decided.Load()) }

func (sm *sampler) stop() samples {
	sm.cancel()
	return <-sm.done
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// CheckBareRoute reports whether nginx routes benchbare.Path to a live bare
// handler (202), so the limit scenario can run.
func CheckBareRoute(ctx context.Context, baseURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+benchbare.Path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("nginx has no %s route yet: run `make run` to reload nginx with the current template", benchbare.Path)
	default:
		return fmt.Errorf("POST %s through nginx answered %s", benchbare.Path, resp.Status)
	}
}
