package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/stackclient"
)

func TestEnvelopeCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"accepted", `{"status":202,"code":"OK","message":"x","result":{"status":"PENDING"}}`, "OK"},
		{"closed", `{"status":409,"code":"EVENT_CLOSED","message":"sold out"}`, "EVENT_CLOSED"},
		{"unknown code", `{"status":418,"code":"TEAPOT"}`, "TEAPOT"},
		{"html", `<html>bad gateway</html>`, "NON_JSON"},
		{"cut off", `{"status":500,"code":"SERV`, "NON_JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := envelopeCode([]byte(tt.body)); got != tt.want {
				t.Fatalf("envelopeCode(%s) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	var sorted []time.Duration
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.50, 50 * time.Millisecond},
		{0.95, 95 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{0, time.Millisecond},
	}
	for _, tt := range tests {
		if got := quantile(sorted, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil) = %v, want 0", got)
	}
}

func TestPeakRate(t *testing.T) {
	t.Parallel()
	// 0 for a second, then 3,000 in one second, then flat.
	series := []Point{{0, 0}, {0.5, 0}, {1, 0}, {1.5, 1500}, {2, 3000}, {2.5, 3000}, {3, 3000}}
	if got := peakRate(series, time.Second); got != 3000 {
		t.Fatalf("peakRate = %v, want 3000", got)
	}
	if got := peakRate(series[:2], time.Second); got != 0 {
		t.Fatalf("peakRate of a short series = %v, want 0", got)
	}
}

func TestMedianSkipsUnmeasured(t *testing.T) {
	t.Parallel()
	if got := median([]float64{3, math.NaN(), 1, 2}); got != 2 {
		t.Fatalf("median = %v, want 2", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Fatalf("median of four = %v, want 2.5", got)
	}
	if got := median([]float64{math.NaN()}); !math.IsNaN(got) {
		t.Fatalf("median of nothing measured = %v, want NaN", got)
	}
}

func TestMintAttemptsShape(t *testing.T) {
	t.Parallel()
	s := Scenario{Name: "herd", Path: ApplyPath, Participants: 1000, Duplicates: 0.1, Invalid: 0.05}
	attempts, err := mintAttempts(fakeMinter{}, s, "bx")
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 1150 || len(attempts) != s.Requests() {
		t.Fatalf("attempts = %d, Requests() = %d, want 1150", len(attempts), s.Requests())
	}
	distinct, invalid := map[string]bool{}, 0
	for _, a := range attempts {
		if a.Invalid {
			invalid++
			continue
		}
		distinct[a.Email] = true
	}
	if len(distinct) != 1000 || invalid != 50 {
		t.Fatalf("distinct participants %d, invalid %d; want 1000 and 50", len(distinct), invalid)
	}
}

type fakeMinter struct{}

func (fakeMinter) Mint(email string, _ time.Time) (string, error) {
	return "tok." + email + ".sig", nil
}

func TestWriteMarkdownKeepsHandWrittenText(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	doc := "# Benchmarks\n\nintro\n\n" + beginMarker + "\nold figures\n" + endMarker + "\n\n## Analysis\n\nkept\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Report{Machine: Machine{CPU: "test cpu", NProc: 2}, Scenarios: []Scenario{{Name: "limit", Path: "/bench/bare", Participants: 10, Conns: 2}},
		Runs: [][]*Result{{{Scenario: "limit", Bare: true, Requests: 10, Throughput: 100, ByStatus: map[string]int{"202 OK": 10}}}}}
	if err := r.WriteMarkdown(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(raw)
	for _, want := range []string{"intro", "## Analysis\n\nkept", "test cpu", "| limit | 10 | 100 |"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "old figures") || strings.Count(got, beginMarker) != 1 {
		t.Errorf("generated section not replaced exactly once:\n%s", got)
	}
}

// TestConsumerFiguresSumPhasesOverInstances reads two instances' metrics
// the way stock-consumer serves them and sums the batch phases.
func TestConsumerFiguresSumPhasesOverInstances(t *testing.T) {
	t.Parallel()
	page := func(decide, persist string) string {
		return `farewell_decisions_total{outcome="SUCCESS"} 3` + "\n" +
			`farewell_decisions_total{outcome="FAIL"} ` + persist + "\n" +
			"farewell_decision_persist_seconds_sum 2.5\n" +
			`farewell_decision_phase_seconds_sum{phase="decide"} ` + decide + "\n" +
			`farewell_decision_phase_seconds_sum{phase="persist"} ` + persist + "\n" +
			`farewell_decision_phase_seconds_count{phase="persist"} 9` + "\n"
	}
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(page("0.5", "1.25"))) }))
	defer a.Close()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(page("0.25", "2"))) }))
	defer b.Close()
	m := &Metrics{URL: a.URL + "," + b.URL, HTTP: http.DefaultClient}
	f, err := m.Consumer(context.Background(), "farewell.applications")
	if err != nil {
		t.Fatal(err)
	}
	if f.BatchSeconds != 5 || f.PhaseSeconds["decide"] != 0.75 || f.PhaseSeconds["persist"] != 3.25 || len(f.PhaseSeconds) != 2 {
		t.Fatalf("figures = %+v", f)
	}
	if got := phaseSplit(map[string]float64{"persist": 0.0031, "decide": 0.0012}); got != " (ms: decide 1.2, persist 3.1)" {
		t.Fatalf("phaseSplit = %q", got)
	}
	hostA, hostB := strings.TrimPrefix(a.URL, "http://"), strings.TrimPrefix(b.URL, "http://")
	if f.Decisions != 9.25 || f.DecisionsAt[hostA] != 4.25 || f.DecisionsAt[hostB] != 5 || len(f.DecisionsAt) != 2 {
		t.Fatalf("decisions = %v, per endpoint %v", f.Decisions, f.DecisionsAt)
	}
}

// TestDecidedByNamesTheConsumersThatDecided: the drain's line says how many
// replicas decided, busiest first, and leaves out the ones that stood by.
func TestDecidedByNamesTheConsumersThatDecided(t *testing.T) {
	t.Parallel()
	cases := []struct {
		by   map[string]float64
		want string
	}{
		{nil, "no consumer decided"},
		{map[string]float64{"h:1": 100000, "h:2": 0}, "1 consumer decided (h:1 100000)"},
		{map[string]float64{"h:1": 40000, "h:2": 60000}, "2 consumers decided (h:2 60000, h:1 40000)"},
	}
	for _, c := range cases {
		if got := decidedBy(c.by); got != c.want {
			t.Errorf("decidedBy(%v) = %q, want %q", c.by, got, c.want)
		}
	}
}

// TestTwiceNoteNamesAFewAndCountsAll: a second code email is reported with
// the number of participants it happened to and at most three addresses.
func TestTwiceNoteNamesAFewAndCountsAll(t *testing.T) {
	if got := twiceNote(nil); got != "" {
		t.Fatalf("no duplicates: %q, want no note", got)
	}
	if got, want := twiceNote([]string{"a@x", "b@x"}), "2 participants got two code emails: a@x, b@x"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	many := []string{"a@x", "b@x", "c@x", "d@x", "e@x"}
	if got, want := twiceNote(many), "5 participants got two code emails (first: a@x, b@x, c@x, …)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestChartsOfADrainOnlyRun: a run without an HTTP scenario has no
// latencies; its charts are drawn without the latency chart (whose log
// axis needs a positive range) instead of panicking.
func TestChartsOfADrainOnlyRun(t *testing.T) {
	t.Parallel()
	drain := &Result{Scenario: "drain", Direct: true, LagSeries: []Point{{T: 0, V: 100}, {T: 0.25, V: 40}, {T: 0.5, V: 0}}}
	files, err := WriteCharts(t.TempDir(), []*Result{drain})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Base(f) == "latency.png" {
			t.Fatalf("a latency chart without latencies: %v", files)
		}
	}
	if len(files) != 3 {
		t.Fatalf("charts = %v, want throughput, consumer lag and drain lag", files)
	}
}

// TestCodeInReadsTheTextAndTheSnippet: the code comes from the email's
// "인증 코드:" line, or from Mailpit's snippet, which has no label.
func TestCodeInReadsTheTextAndTheSnippet(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{
		"이메일 인증 코드를 알려 드립니다.\n\n인증 코드: 435456\n\n이 코드는 2026년 12월 3일 00시 14분 (KST)까지":                            "435456",
		"안녕하세요, 터닝입니다. '터닝의 마지막 선물' 이벤트 참여를 위한 이메일 인증 코드를 알려 드립니다. 435456 이 코드는 2026년 12월 3일 00시 14분 (KST)까...": "435456",
		"안녕하세요, 터닝입니다. 2026년 12월 3일": "",
		"인증 코드: 12": "",
	} {
		if got := codeIn(text); got != want {
			t.Errorf("codeIn(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestAnswerCPUTableShowsTheAnswerWindow(t *testing.T) {
	t.Parallel()
	kafka := &Result{Scenario: "kafka", Requests: 10, Throughput: 5, Elapsed: 2 * time.Second, AnswerBusyCPU: 3.5,
		ByStatus: map[string]int{"202 OK": 10},
		Procs:    []ProcResult{{Name: "mailpit", CPUSeconds: 9, AnswerCPUSeconds: 1.25}, {Name: "apply-gateway-1", CPUSeconds: 2, AnswerCPUSeconds: 0.75}}}
	drain := &Result{Scenario: "drain", Direct: true, Requests: 10, ByStatus: map[string]int{"acknowledged by Kafka": 10},
		Procs: []ProcResult{{Name: "mailpit", CPUSeconds: 1}}}
	r := &Report{Machine: Machine{NProc: 2}, Scenarios: []Scenario{{Name: "kafka", Path: ApplyPath}, {Name: "drain", Path: DrainPath}},
		Runs: [][]*Result{{kafka, drain}}}
	md := r.Markdown()
	_, section, ok := strings.Cut(md, "### CPU seconds from the first request to the last answer")
	if !ok {
		t.Fatalf("no answer-window table:\n%s", md)
	}
	for _, want := range []string{"| process | kafka |", "| mailpit | 1.25 |", "| apply-gateway-1 | 0.75 |", "| machine busy | 3.50 |", "| machine available (answer time × cores) | 4.00 |"} {
		if !strings.Contains(section, want) {
			t.Errorf("answer-window table lacks %q:\n%s", want, section)
		}
	}
	if strings.Contains(strings.SplitN(section, "###", 2)[0], "drain") {
		t.Errorf("the drain sends no requests and has no column:\n%s", section)
	}
}

// TestWhileRestoringRetriesOnly503: an admin change refused with 503 while
// stock-consumer loads the event is tried again; any other answer is final.
func TestWhileRestoringRetriesOnly503(t *testing.T) {
	t.Parallel()
	calls := 0
	var log strings.Builder
	err := whileRestoring(context.Background(), &log, func() error {
		calls++
		if calls < 3 {
			return &stackclient.StatusError{Op: "set stock", HTTPStatus: http.StatusServiceUnavailable, Code: "SERVICE_UNAVAILABLE"}
		}
		return nil
	})
	if err != nil || calls != 3 || strings.Count(log.String(), "waiting") != 1 {
		t.Fatalf("err %v after %d calls, log %q", err, calls, log.String())
	}
	calls = 0
	refused := &stackclient.StatusError{Op: "set stock", HTTPStatus: http.StatusBadRequest, Code: "INVALID_STOCK"}
	err = whileRestoring(context.Background(), io.Discard, func() error { calls++; return refused })
	if !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("a 400 was tried %d times, err %v", calls, err)
	}
}

// TestSoldOutScenarioCountsA202AsAnError: at an event with no gift left
// every apply must be shed; a 202 is a gift that did not exist.
func TestSoldOutScenarioCountsA202AsAnError(t *testing.T) {
	t.Parallel()
	attempts := []Attempt{{Email: "a@x"}, {Email: "b@x"}, {Email: "c@x"}}
	outcomes := []Outcome{
		{Start: 0, Latency: time.Millisecond, Status: 409, Code: "EVENT_CLOSED", Attempt: 0},
		{Start: 0, Latency: 2 * time.Millisecond, Status: 409, Code: "EVENT_CLOSED", Attempt: 1},
		{Start: 0, Latency: 3 * time.Millisecond, Status: 202, Code: "OK", Attempt: 2},
	}
	for _, tc := range []struct {
		soldOut    bool
		wantErrors int
	}{{false, 0}, {true, 1}} {
		res := &Result{}
		summarizeOutcomes(res, Scenario{Name: "s", Path: ApplyPath, SoldOut: tc.soldOut}, attempts, outcomes)
		if res.Errors != tc.wantErrors || res.Accepted != 1 {
			t.Errorf("sold out %v: errors %d, accepted %d; want %d, 1", tc.soldOut, res.Errors, res.Accepted, tc.wantErrors)
		}
	}
}

// TestShedTargetsUseTheSoldOutScenarios: the shed path's targets compare
// the sold-out scenarios with their ceilings, the herd's ratio is reported
// beside them, and a 202 in a sold-out run fails its check.
func TestShedTargetsUseTheSoldOutScenarios(t *testing.T) {
	t.Parallel()
	run := func(shedAccepted int) [][]*Result {
		return [][]*Result{{
			{Scenario: "herd", Stock: 1000, Throughput: 500, P99: 400 * time.Millisecond},
			{Scenario: "limit", Bare: true, Throughput: 1000, P99: 100 * time.Millisecond},
			{Scenario: "shed", Throughput: 800, P99: 140 * time.Millisecond, Accepted: shedAccepted},
		}}
	}
	find := func(checks []Check, prefix string) Check {
		for _, c := range checks {
			if strings.HasPrefix(c.Target, prefix) {
				return c
			}
		}
		t.Fatalf("no check %q in %+v", prefix, checks)
		return Check{}
	}
	checks := (&Report{Runs: run(0)}).Checks()
	if c := find(checks, "shed path through nginx: throughput"); c.Met != "yes" || !strings.Contains(c.Measured, "80.0 %") || !strings.Contains(c.Target, "(shed / limit)") {
		t.Errorf("shed throughput check: %+v", c)
	}
	if c := find(checks, "shed path through nginx: p99"); c.Met != "yes" || !strings.HasPrefix(c.Measured, "1.40 ×") {
		t.Errorf("shed p99 check: %+v", c)
	}
	if c := find(checks, "herd through nginx (1000 gifts through Kafka, the rest shed): throughput"); c.Met != "n/a" || !strings.Contains(c.Measured, "50.0 %") {
		t.Errorf("herd ratio: %+v", c)
	}
	if c := find(checks, "herd through nginx (1000 gifts through Kafka, the rest shed): p99"); c.Met != "n/a" || !strings.HasPrefix(c.Measured, "4.00 ×") {
		t.Errorf("herd p99 ratio: %+v", c)
	}
	if c := find(checks, "shed: every apply shed"); c.Met != "yes" {
		t.Errorf("clean shed run: %+v", c)
	}
	if c := find((&Report{Runs: run(3)}).Checks(), "shed: every apply shed"); c.Met == "yes" || !strings.HasPrefix(c.Measured, "3, ") {
		t.Errorf("a shed run with 202s passed: %+v", c)
	}
}

// TestSelfLeavesOutTheBareHandlerProcesses: the load generator's row counts
// its own process only; its children (the bare handlers) have rows of their
// own, and a stack process still counts its whole tree.
func TestSelfLeavesOutTheBareHandlerProcesses(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	}()
	if got := self().pids(); len(got) != 1 || got[0] != os.Getpid() {
		t.Errorf("self counts %v, want only %d", got, os.Getpid())
	}
	if got := (Proc{PID: os.Getpid()}).pids(); !slices.Contains(got, child.Process.Pid) {
		t.Errorf("a process tree %v lacks the child %d", got, child.Process.Pid)
	}
}

// TestSeedP95IsSplitByAnswer: the 202s (each waited for acks=all) and the
// other answers get a p95 each, and the report puts both over the bare
// handler's p95.
func TestSeedP95IsSplitByAnswer(t *testing.T) {
	t.Parallel()
	var attempts []Attempt
	var outcomes []Outcome
	for i := 0; i < 100; i++ {
		attempts = append(attempts, Attempt{Email: fmt.Sprintf("p%d@x", i)})
		o := Outcome{Latency: time.Duration(i+1) * time.Millisecond, Status: 409, Code: "EVENT_CLOSED", Attempt: int32(i)}
		if i%10 == 0 {
			o.Latency, o.Status, o.Code = time.Duration(200+i)*time.Millisecond, 202, "OK"
		}
		outcomes = append(outcomes, o)
	}
	res := &Result{Scenario: "seed", Requests: 100}
	summarizeOutcomes(res, Scenario{Name: "seed", Path: ApplyPath}, attempts, outcomes)
	if res.AcceptedP95 != 290*time.Millisecond || res.OtherP95 != 96*time.Millisecond {
		t.Fatalf("p95 of the 202s %s, of the others %s; want 290ms, 96ms", res.AcceptedP95, res.OtherP95)
	}
	ceiling := &Result{Scenario: "seed-limit", Bare: true, P95: 100 * time.Millisecond}
	checks := (&Report{Runs: [][]*Result{{res, ceiling}}}).Checks()
	for _, c := range checks {
		if strings.HasPrefix(c.Target, "seed shape: p95 of its 202s") {
			if !strings.HasPrefix(c.Measured, "2.90 × and 0.96 ×") || !strings.Contains(c.Measured, "10 202s of 100 answers") {
				t.Errorf("split check: %+v", c)
			}
			return
		}
	}
	t.Fatalf("no split check in %+v", checks)
}
