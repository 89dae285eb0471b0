package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Machine describes where the figures were measured.
type Machine struct {
	CPU     string
	NProc   int
	Memory  string // `free -m`
	Kernel  string
	Go      string
	Started time.Time
}

// DescribeMachine reads /proc/cpuinfo, nproc, `free -m` and the kernel release.
func DescribeMachine() Machine {
	m := Machine{NProc: runtime.NumCPU(), Go: runtime.Version(), Started: time.Now()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if out, err := exec.Command("free", "-m").Output(); err == nil {
		m.Memory = strings.TrimRight(string(out), "\n")
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	return m
}

// Report is a whole `make bench` invocation: several runs of every scenario.
type Report struct {
	Command   string      `json:"command"`
	Machine   Machine     `json:"machine"`
	Scenarios []Scenario  `json:"scenarios"`
	Runs      [][]*Result `json:"runs"`   // [run][scenario]
	Limits    []string    `json:"limits"` // notes on how the tool ran (rlimit, lock, scale)
	// Profiles are `go tool pprof -top` excerpts of the services profiled.
	Profiles  []ProfileExcerpt `json:"-"`
	Charts    []string         `json:"-"` // file names relative to the report
	ChartsRun int              `json:"-"`
}

// ProfileExcerpt is the head of `go tool pprof -top` for one profile file
// (named run<N>-<scenario>-<instance>.<cpu|heap>.pprof).
type ProfileExcerpt struct {
	File string
	Top  string
}

// byScenario returns every run's result of one scenario.
func (r *Report) byScenario(name string) []*Result {
	var out []*Result
	for _, run := range r.Runs {
		for _, res := range run {
			if res.Scenario == name {
				out = append(out, res)
			}
		}
	}
	return out
}

func (r *Report) result(run int, name string) *Result {
	for _, res := range r.Runs[run] {
		if res.Scenario == name {
			return res
		}
	}
	return nil
}

// median of the values that are not NaN; NaN when none.
func median(vals []float64) float64 {
	var v []float64
	for _, x := range vals {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func collect(rs []*Result, f func(*Result) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// secs is d in seconds, NaN when not measured.
func secs(d time.Duration) float64 {
	if d == NotMeasured {
		return math.NaN()
	}
	return d.Seconds()
}

// MedianRun is the run whose herd throughput is the median (the charts' run).
func (r *Report) MedianRun() int {
	type rt struct {
		run int
		t   float64
	}
	var v []rt
	for i := range r.Runs {
		name := "herd"
		if r.result(i, name) == nil && len(r.Runs[i]) > 0 {
			name = r.Runs[i][0].Scenario
		}
		if res := r.result(i, name); res != nil {
			v = append(v, rt{i, res.Throughput})
		}
	}
	if len(v) == 0 {
		return 0
	}
	sort.Slice(v, func(a, b int) bool { return v[a].t < v[b].t })
	return v[(len(v)-1)/2].run
}

// Check is one target of the issue and how the runs compare.
type Check struct {
	Target   string
	Goal     string
	Measured string
	Met      string // yes, no, n/a
}

func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func fmtF(f float64, format string) string {
	if math.IsNaN(f) {
		return "n/a"
	}
	return fmt.Sprintf(format, f)
}

// Checks compares medians (and, for zero-tolerance targets, every run) with
// the targets.
func (r *Report) Checks() []Check {
	var out []Check
	herd, seed, limit := r.byScenario("herd"), r.byScenario("seed"), r.byScenario("limit")
	if len(herd) > 0 && len(limit) > 0 {
		var ratios []float64
		for i := range r.Runs {
			h, l := r.result(i, "herd"), r.result(i, "limit")
			if h != nil && l != nil && l.Throughput > 0 {
				ratios = append(ratios, h.Throughput/l.Throughput)
			}
		}
		m := median(ratios)
		out = append(out, Check{"herd throughput / limit throughput (same run)", "≥ 35 %",
			fmt.Sprintf("%s (herd %s req/s, limit %s req/s)", fmtF(m*100, "%.1f %%"),
				fmtF(median(collect(herd, func(x *Result) float64 { return x.Throughput })), "%.0f"),
				fmtF(median(collect(limit, func(x *Result) float64 { return x.Throughput })), "%.0f")),
			verdict(m >= 0.35)})
	}
	if len(herd) > 0 {
		p99 := median(collect(herd, func(x *Result) float64 { return ms(x.P99) }))
		out = append(out, Check{"herd p99", "≤ 100 ms", fmtF(p99, "%.1f ms") + ceiling(limit, func(x *Result) float64 { return ms(x.P99) }, "p99"),
			verdict(p99 <= 100)})
		n5 := 0
		for _, x := range herd {
			n5 += x.Status5xx
		}
		out = append(out, Check{"herd 5xx (all runs)", "0", fmt.Sprint(n5), verdict(n5 == 0)})
	}
	if len(seed) > 0 {
		p95 := median(collect(seed, func(x *Result) float64 { return ms(x.P95) }))
		out = append(out, Check{"seed p95", "≤ 100 ms", fmtF(p95, "%.1f ms") + ceiling(r.byScenario("seed-limit"), func(x *Result) float64 { return ms(x.P95) }, "p95"),
			verdict(p95 <= 100)})
		errs := 0
		var winners []string
		exact := true
		for _, x := range seed {
			errs += x.Errors
			winners = append(winners, fmt.Sprint(x.Winners))
			exact = exact && x.PersistedAll && x.Winners == x.Stock
		}
		out = append(out, Check{"seed errors (all runs)", "0", fmt.Sprint(errs), verdict(errs == 0)})
		out = append(out, Check{"seed winners (each run)", fmt.Sprintf("exactly %d", seed[0].Stock), strings.Join(winners, ", "), verdict(exact)})
	}
	if len(herd) > 0 {
		all := true
		for _, x := range herd {
			all = all && x.PersistedAll
		}
		p := median(collect(herd, func(x *Result) float64 { return secs(x.PersistAfterLast202) }))
		out = append(out, Check{"herd: every decision persisted after the last 202", "≤ 5 s",
			fmtF(p, "%.2f s") + fmt.Sprintf(" (%s decisions)", fmtF(median(collect(herd, func(x *Result) float64 { return float64(x.Persisted) })), "%.0f")),
			verdict(all && p <= 5)})
		if drain := r.byScenario("drain"); len(drain) == 0 {
			rate := median(collect(herd, func(x *Result) float64 { return x.PeakPersistRate }))
			backlog := median(collect(herd, func(x *Result) float64 { return float64(x.MaxLag) }))
			out = append(out, Check{"decisions persisted per second (peak 1 s, herd; bounded by what the gateway admits)", "≥ 20,000/s",
				fmt.Sprintf("%s (peak consumer lag %s)", fmtF(rate, "%.0f/s"), fmtF(backlog, "%.0f")), verdict(rate >= 20000)})
		}
		emailsMeasured := false
		for _, x := range herd {
			emailsMeasured = emailsMeasured || x.NotifierRunning
		}
		if emailsMeasured {
			e := median(collect(herd, func(x *Result) float64 { return secs(x.EmailsAfterDecisions) }))
			allMail := true
			for _, x := range herd {
				allMail = allMail && x.EmailsAll
			}
			out = append(out, Check{fmt.Sprintf("%d winner emails in Mailpit after their decisions", herd[0].Stock), "≤ 10 s",
				fmtF(e, "%.2f s"), verdict(allMail && e <= 10)})
		} else {
			out = append(out, Check{fmt.Sprintf("%d winner emails in Mailpit after their decisions", herd[0].Stock), "≤ 10 s",
				"not measured: notifier was not running", "n/a"})
		}
	}
	if drain := r.byScenario("drain"); len(drain) > 0 {
		rate := median(collect(drain, func(x *Result) float64 { return x.PersistRate }))
		all := true
		for _, x := range drain {
			all = all && x.PersistedAll
		}
		out = append(out, Check{"stock-consumer sustained decisions persisted per second (drain: backlog written to Kafka)", "≥ 20,000/s",
			fmt.Sprintf("%s (%s decisions, peak lag %s)", fmtF(rate, "%.0f/s"),
				fmtF(median(collect(drain, func(x *Result) float64 { return float64(x.Persisted) })), "%.0f"),
				fmtF(median(collect(drain, func(x *Result) float64 { return float64(x.MaxLag) })), "%.0f")),
			verdict(all && rate >= 20000)})
	}
	peaks := map[string]float64{}
	for _, run := range r.Runs {
		for _, res := range run {
			for _, p := range res.Procs {
				if p.Service {
					svc := serviceOf(p.Name)
					peaks[svc] = max(peaks[svc], p.PeakRSSMiB)
				}
			}
		}
	}
	for _, svc := range []string{"apply-gateway", "stock-consumer", "notifier", "auth"} {
		v, ok := peaks[svc]
		if !ok {
			continue
		}
		limit := 128.0
		if svc == "apply-gateway" {
			limit = 64
		}
		out = append(out, Check{"peak RSS " + svc + " (max of instances, scenarios, runs)", fmt.Sprintf("≤ %.0f MiB", limit),
			fmt.Sprintf("%.1f MiB", v), verdict(v <= limit)})
	}
	return out
}

// ceiling names the bare handler's figure for the same shape, if it ran.
func ceiling(rs []*Result, f func(*Result) float64, what string) string {
	if len(rs) == 0 {
		return ""
	}
	return fmt.Sprintf(" (bare handler, same shape: %s %s)", what, fmtF(median(collect(rs, f)), "%.1f ms"))
}

func serviceOf(instance string) string {
	if i := strings.LastIndexByte(instance, '-'); i > 0 {
		if _, err := fmt.Sscanf(instance[i+1:], "%d", new(int)); err == nil {
			return instance[:i]
		}
	}
	return instance
}

// scenarioRow is one line of the figures tables.
func scenarioRow(name string, rs []*Result) []string {
	f := func(g func(*Result) float64, format string) string { return fmtF(median(collect(rs, g)), format) }
	errs, n5 := 0, 0
	for _, x := range rs {
		errs += x.Errors
		n5 += x.Status5xx
	}
	row := []string{name,
		f(func(x *Result) float64 { return float64(x.Requests) }, "%.0f"),
		f(func(x *Result) float64 { return x.Throughput }, "%.0f"),
		f(func(x *Result) float64 { return ms(x.P50) }, "%.1f"),
		f(func(x *Result) float64 { return ms(x.P95) }, "%.1f"),
		f(func(x *Result) float64 { return ms(x.P99) }, "%.1f"),
		f(func(x *Result) float64 { return ms(x.Max) }, "%.1f"),
		fmt.Sprint(n5), fmt.Sprint(errs),
	}
	other := f(func(x *Result) float64 { return x.OtherCPU }, "%.1f") + " / " + f(func(x *Result) float64 { return x.BusyCPU }, "%.1f")
	if len(rs) > 0 && rs[0].Bare {
		return append(row, "–", "–", "–", "–", "–", "–", other)
	}
	if len(rs) > 0 && rs[0].Direct {
		for i := 3; i <= 6; i++ {
			row[i] = "–"
		}
	}
	return append(row,
		f(func(x *Result) float64 { return float64(x.Accepted) }, "%.0f"),
		f(func(x *Result) float64 { return float64(x.Winners) }, "%.0f"),
		f(func(x *Result) float64 { return secs(x.PersistAfterLast202) }, "%.2f"),
		f(func(x *Result) float64 { return secs(x.EmailsAfterDecisions) }, "%.2f"),
		f(func(x *Result) float64 { return float64(x.MaxLag) }, "%.0f"),
		f(func(x *Result) float64 {
			if x.PersistRate == 0 {
				return math.NaN()
			}
			return x.PersistRate
		}, "%.0f"),
		other,
	)
}

var figureHeader = []string{"scenario", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "5xx", "errors",
	"202", "winners", "persisted after last 202 (s)", "emails after decisions (s)", "peak lag", "decisions/s", "foreign / all CPU s"}

// PrintSummary writes the median table and the target checks to w.
func (r *Report) PrintSummary(w io.Writer) {
	fmt.Fprintf(w, "\nmedians of %d run(s):\n", len(r.Runs))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(shortHeader, "\t")+"\t")
	for _, s := range r.Scenarios {
		fmt.Fprintln(tw, strings.Join(scenarioRow(s.Name, r.byScenario(s.Name)), "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w, "\ntargets:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range r.Checks() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", strings.Trim(c.Met, "*"), c.Target, c.Goal, c.Measured)
	}
	tw.Flush()
}

var shortHeader = []string{"scenario", "requests", "req/s", "p50ms", "p95ms", "p99ms", "maxms", "5xx", "errors",
	"202", "winners", "persist_s", "emails_s", "peaklag", "dec/s", "foreignCPU/all"}

// Markdown renders the generated part of docs/benchmarks.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	table := func(header []string, rows [][]string) {
		p("| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
		for _, row := range rows {
			p("| %s |\n", strings.Join(row, " | "))
		}
		p("\n")
	}
	m := r.Machine
	p("_Generated by `make bench` on %s; everything between the bench markers is rewritten by the next run._\n\n", m.Started.UTC().Format("2006-01-02 15:04 MST"))
	p("### How it ran\n\n")
	p("```\n%s\n```\n\n", r.Command)
	p("- Machine: %s, `nproc` = %d, Linux %s, %s; the whole stack (nginx, 2 × apply-gateway, 2 × auth, stock-consumer, notifier, Redis, MariaDB, Kafka, Mailpit) and the load generator share it.\n", m.CPU, m.NProc, m.Kernel, m.Go)
	if m.Memory != "" {
		p("- `free -m`:\n\n```\n%s\n```\n", m.Memory)
	}
	p("\n")
	for _, s := range r.Scenarios {
		switch {
		case s.Direct():
			p("- **%s**: %d applications (distinct participants) written straight to Kafka by the tool (acks=all, batched), faster than the consumer decides them; stock %d. It measures stock-consumer alone with a backlog, which the herd cannot build because the gateway sheds everything after sell-out. Its \"req/s\" is the write rate, its \"202\" the acknowledged writes.\n",
				s.Name, s.Participants, s.Stock)
		case s.Event():
			p("- **%s**: %d participants, +%.0f %% duplicate applies, +%.0f %% invalid tokens = %d requests over %d connections, all starting at once, each sending its next request as soon as its answer arrives; stock %d.\n",
				s.Name, s.Participants, s.Duplicates*100, s.Invalid*100, s.Requests(), s.Conns, s.Stock)
		default:
			p("- **%s**: %d requests over %d connections, the shape of the scenario it is named after, to `POST %s`: a handler (in the bench process) that answers the 202 envelope and does nothing, behind the same nginx.\n",
				s.Name, s.Requests(), s.Conns, s.Path)
		}
	}
	for _, l := range r.Limits {
		p("- %s\n", l)
	}
	p("\n### Targets (medians of %d runs)\n\n", len(r.Runs))
	var rows [][]string
	for _, c := range r.Checks() {
		rows = append(rows, []string{c.Target, c.Goal, c.Measured, c.Met})
	}
	table([]string{"target", "goal", "measured", "met"}, rows)

	p("### Medians of %d runs\n\n", len(r.Runs))
	rows = nil
	for _, s := range r.Scenarios {
		rows = append(rows, scenarioRow(s.Name, r.byScenario(s.Name)))
	}
	table(figureHeader, rows)
	p("5xx and errors are totals over all runs. Throughput is answers per second from the first request to the last answer; latency is per request, measured by the client (vegeta). \"persisted after last 202\" is the round's last decided_at (stock-consumer stamps it per batch right before the INSERT; the tool waits until MySQL holds a row for every distinct 202'd participant) minus the moment the last 202 reached the client, negative when the decision was in first; \"emails after decisions\" is Mailpit's receive time of the last winner e-mail minus the last winner's decided_at; decisions/s is rows over the span of their decided_at (– when the span is under 200 ms). \"foreign / all CPU s\" is CPU time the machine spent on processes outside the stack and the bench (other engineers' builds and tests on this shared machine) over all CPU time spent during the scenario.\n\n")

	p("### Every run\n\n")
	rows = nil
	for i := range r.Runs {
		for _, s := range r.Scenarios {
			if res := r.result(i, s.Name); res != nil {
				row := scenarioRow(s.Name, []*Result{res})
				row[0] = fmt.Sprintf("%d %s", i+1, s.Name)
				rows = append(rows, row)
			}
		}
	}
	table(append([]string{"run"}, figureHeader[1:]...), rows)

	p("Answers by HTTP status and code:\n\n")
	rows = nil
	for i := range r.Runs {
		for _, s := range r.Scenarios {
			res := r.result(i, s.Name)
			if res == nil {
				continue
			}
			var keys []string
			for k := range res.ByStatus {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s: %d", k, res.ByStatus[k]))
			}
			extra := ""
			if s.Event() {
				extra = fmt.Sprintf("distinct 202'd %d, 202 for an already-accepted email %d, persisted %d, winners %d (admin %d), emails %d",
					res.DistinctAccepted, res.DuplicateAccepted, res.Persisted, res.Winners, res.AdminWinners, res.Emails)
				if res.Batches > 0 {
					extra += fmt.Sprintf("; consumer: %.0f batches of %.0f messages on average, %.1f ms each to decide, persist and publish",
						res.Batches, res.MeanBatch, res.MeanBatchTime*1000)
				}
			}
			rows = append(rows, []string{fmt.Sprintf("%d %s", i+1, s.Name), strings.Join(parts, ", "), extra, strings.Join(res.Notes, "; ")})
		}
	}
	table([]string{"run", "answers", "consequences", "notes"}, rows)

	p("### CPU seconds and peak RSS per process (medians of CPU, maxima of RSS)\n\n")
	var names []string
	seen := map[string]bool{}
	for _, run := range r.Runs {
		for _, res := range run {
			for _, pr := range res.Procs {
				if !seen[pr.Name] {
					seen[pr.Name] = true
					names = append(names, pr.Name)
				}
			}
		}
	}
	header := []string{"process"}
	for _, s := range r.Scenarios {
		header = append(header, s.Name+" CPU s", s.Name+" peak RSS MiB")
	}
	rows = nil
	for _, n := range names {
		row := []string{n}
		for _, s := range r.Scenarios {
			var cpu []float64
			peak := math.NaN()
			for _, res := range r.byScenario(s.Name) {
				if pr, ok := res.Proc(n); ok {
					cpu = append(cpu, pr.CPUSeconds)
					if math.IsNaN(peak) || pr.PeakRSSMiB > peak {
						peak = pr.PeakRSSMiB
					}
				}
			}
			row = append(row, fmtF(median(cpu), "%.2f"), fmtF(peak, "%.1f"))
		}
		rows = append(rows, row)
	}
	table(header, rows)
	p("CPU is user + system time from /proc/<pid>/stat over the scenario (from just before the first request until the last decision and email, so it includes the drain); peak RSS is VmHWM of /proc/<pid>/status, reset with `clear_refs` at the start of each scenario. nginx counts its workers.\n\n")

	if len(r.Charts) > 0 {
		p("### Charts (run %d, the median herd)\n\n", r.ChartsRun+1)
		for _, c := range r.Charts {
			p("![%s](%s)\n\n", strings.TrimSuffix(c[strings.LastIndexByte(c, '/')+1:], ".png"), c)
		}
	}
	if len(r.Profiles) > 0 {
		p("### Profiles (`go tool pprof -top`)\n\nServices started with `FAREWELL_PPROF=true`; file names say run, scenario and instance; heap profiles show in-use bytes, taken halfway through the CPU profile. Full `-top` and `-top -cum` listings lie next to each file.\n\n")
		for _, pe := range r.Profiles {
			p("`%s`:\n\n```\n%s\n```\n\n", pe.File, pe.Top)
		}
	}
	return b.String()
}

// Report markers: WriteMarkdown replaces what lies between them and keeps the
// hand-written analysis around them.
const (
	beginMarker = "<!-- bench:begin (generated by make bench) -->"
	endMarker   = "<!-- bench:end -->"
)

// WriteMarkdown puts the generated section into path, between the markers if
// the file has them, or as a new file with a title.
func (r *Report) WriteMarkdown(path string) error {
	gen := beginMarker + "\n" + r.Markdown() + endMarker + "\n"
	old, err := os.ReadFile(path)
	var doc string
	switch {
	case err == nil && strings.Contains(string(old), beginMarker) && strings.Contains(string(old), endMarker):
		s := string(old)
		i := strings.Index(s, beginMarker)
		j := strings.Index(s, endMarker) + len(endMarker)
		if j < len(s) && s[j] == '\n' {
			j++
		}
		doc = s[:i] + gen + s[j:]
	case err == nil:
		doc = string(old) + "\n" + gen
	default:
		doc = "# Benchmarks\n\n" + gen
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
