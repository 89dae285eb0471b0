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

// ratios are, run by run, f of scenario name over f of its ceiling.
func (r *Report) ratios(name, ceilingName string, f func(*Result) float64) []float64 {
	return r.ratiosOf(name, ceilingName, f, f)
}

// ratiosOf are, run by run, f of scenario name over g of its ceiling.
func (r *Report) ratiosOf(name, ceilingName string, f, g func(*Result) float64) []float64 {
	var out []float64
	for i := range r.Runs {
		a, b := r.result(i, name), r.result(i, ceilingName)
		if a != nil && b != nil && g(b) > 0 {
			out = append(out, f(a)/g(b))
		}
	}
	return out
}

func throughput(x *Result) float64 { return x.Throughput }

func p95(x *Result) float64 { return ms(x.P95) }
func p99(x *Result) float64 { return ms(x.P99) }

// stockOf is the gifts of a scenario's rounds, "n/a" without any.
func stockOf(rs []*Result) string {
	if len(rs) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%d", rs[0].Stock)
}

// ratioChecks are the targets of one scenario against its ceiling, run by
// run: throughput at least minShare of the ceiling's, and the latency
// quantile q ("p95", "p99"; "" for none) at most maxFactor times the
// ceiling's. A zero minShare or maxFactor reports the ratio without a target.
func (r *Report) ratioChecks(label, name, ceilingName string, minShare float64, q string, maxFactor float64) []Check {
	rs, cs := r.byScenario(name), r.byScenario(ceilingName)
	if len(rs) == 0 || len(cs) == 0 {
		return nil
	}
	var out []Check
	t := median(r.ratios(name, ceilingName, throughput))
	goal, met := "reported", "n/a"
	if minShare > 0 {
		goal, met = fmt.Sprintf("≥ %.0f %%", minShare*100), verdict(t >= minShare)
	}
	out = append(out, Check{label + ": throughput / bare handler's (" + name + " / " + ceilingName + ")", goal,
		fmt.Sprintf("%s (%s vs %s req/s)", fmtF(t*100, "%.1f %%"),
			fmtF(median(collect(rs, throughput)), "%.0f"), fmtF(median(collect(cs, throughput)), "%.0f")), met})
	if q != "" {
		f := p99
		if q == "p95" {
			f = p95
		}
		k := median(r.ratios(name, ceilingName, f))
		goal, met := "reported", "n/a"
		if maxFactor > 0 {
			goal, met = fmt.Sprintf("≤ %.1f ×", maxFactor), verdict(k <= maxFactor)
		}
		out = append(out, Check{label + ": " + q + " / bare handler's", goal,
			fmt.Sprintf("%s (%s vs %s ms)", fmtF(k, "%.2f ×"),
				fmtF(median(collect(rs, f)), "%.1f"), fmtF(median(collect(cs, f)), "%.1f")), met})
	}
	return out
}

// Checks compares medians (and, for zero-tolerance targets, every run) with
// the targets. Ratios are taken run by run (a scenario and its
// ceiling ran side by side), then the median of the runs.
func (r *Report) Checks() []Check {
	var out []Check
	herd, seed := r.byScenario("herd"), r.byScenario("seed")
	out = append(out, r.ratioChecks("shed path through nginx", "shed", "limit", 0.75, "p99", 1.5)...)
	out = append(out, r.ratioChecks("shed path straight at one replica", "shed-replica", "replica-limit", 0.75, "p99", 1.5)...)
	for _, name := range []string{"shed", "shed-replica"} {
		rs := r.byScenario(name)
		if len(rs) == 0 {
			continue
		}
		accepted, decided, errs := 0, int64(0), 0
		for _, x := range rs {
			accepted += x.Accepted
			decided += x.Persisted
			errs += x.Errors
		}
		out = append(out, Check{name + ": every apply shed by the sold-out flag (202s, decisions, errors; all runs)", "0, 0, 0",
			fmt.Sprintf("%d, %d, %d", accepted, decided, errs), verdict(accepted == 0 && decided == 0 && errs == 0)})
	}
	out = append(out, r.ratioChecks(fmt.Sprintf("herd through nginx (%s gifts through Kafka, the rest shed)", stockOf(herd)), "herd", "limit", 0, "p99", 0)...)
	out = append(out, r.ratioChecks(fmt.Sprintf("herd straight at one replica (%s gifts through Kafka, the rest shed)", stockOf(r.byScenario("replica"))), "replica", "replica-limit", 0, "p99", 0)...)
	out = append(out, r.ratioChecks("every apply through Kafka", "kafka", "kafka-limit", 0.60, "p95", 2)...)
	if kafka := r.byScenario("kafka"); len(kafka) > 0 {
		all, errs := true, 0
		for _, x := range kafka {
			errs += x.Errors
			all = all && x.PersistedAll && x.DistinctAccepted == x.Participants && x.Winners == x.Stock
		}
		out = append(out, Check{"every apply through Kafka: each participant 202'd (acks=all), decided and a winner; errors (all runs)",
			"all, 0", fmt.Sprintf("202 %s of %d, errors %d", fmtF(median(collect(kafka, func(x *Result) float64 { return float64(x.DistinctAccepted) })), "%.0f"),
				kafka[0].Participants, errs), verdict(all && errs == 0)})
	}
	out = append(out, r.ratioChecks("seed shape", "seed", "seed-limit", 0, "p95", 1.5)...)
	if len(seed) > 0 {
		out = append(out, Check{"seed shape: p95 of its 202s (each waited for acks=all) and of its other answers, over the bare handler's p95", "reported",
			fmt.Sprintf("%s and %s (%s and %s ms; %s 202s of %d answers)",
				fmtF(median(r.ratiosOf("seed", "seed-limit", func(x *Result) float64 { return ms(x.AcceptedP95) }, p95)), "%.2f ×"),
				fmtF(median(r.ratiosOf("seed", "seed-limit", func(x *Result) float64 { return ms(x.OtherP95) }, p95)), "%.2f ×"),
				fmtF(median(collect(seed, func(x *Result) float64 { return ms(x.AcceptedP95) })), "%.1f"),
				fmtF(median(collect(seed, func(x *Result) float64 { return ms(x.OtherP95) })), "%.1f"),
				fmtF(median(collect(seed, func(x *Result) float64 { return float64(x.Accepted) })), "%.0f"), seed[0].Requests), "n/a"})
	}
	if len(seed) > 0 {
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
	for _, name := range []string{"herd", "shed", "replica", "shed-replica"} {
		rs := r.byScenario(name)
		if len(rs) == 0 {
			continue
		}
		n5 := 0
		for _, x := range rs {
			n5 += x.Status5xx
		}
		out = append(out, Check{name + " 5xx (all runs)", "0", fmt.Sprint(n5), verdict(n5 == 0)})
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
		emailsMeasured, allMail := false, true
		for _, x := range herd {
			emailsMeasured = emailsMeasured || x.NotifierRunning
			allMail = allMail && x.EmailsAll
		}
		if emailsMeasured {
			e := median(collect(herd, func(x *Result) float64 { return secs(x.EmailsAfterDecisions) }))
			out = append(out, Check{fmt.Sprintf("%d winner emails in Mailpit after their decisions (herd)", herd[0].Stock), "≤ 10 s",
				fmtF(e, "%.2f s"), verdict(allMail && e <= 10)})
		}
	}
	if drain := r.byScenario("drain"); len(drain) > 0 {
		rate := median(collect(drain, func(x *Result) float64 { return x.PersistRate }))
		after := median(collect(drain, func(x *Result) float64 { return secs(x.PersistAfterLast202) }))
		all := true
		for _, x := range drain {
			all = all && x.PersistedAll && x.Winners == x.Stock
		}
		out = append(out, Check{"stock-consumer sustained decisions persisted per second (drain: backlog written to Kafka)", "≥ 50,000/s",
			fmt.Sprintf("%s (%s decisions, peak lag %s)", fmtF(rate, "%.0f/s"),
				fmtF(median(collect(drain, func(x *Result) float64 { return float64(x.Persisted) })), "%.0f"),
				fmtF(median(collect(drain, func(x *Result) float64 { return float64(x.MaxLag) })), "%.0f")),
			verdict(all && rate >= 50000)})
		out = append(out, Check{fmt.Sprintf("drain: all %d decided after the last acknowledged write", drain[0].Participants), "≤ 2 s",
			fmtF(after, "%.2f s"), verdict(all && after <= 2)})
		out = append(out, Check{"drain: applications topic partitions, stock-consumers that decided (first run; the scaling from 1 to 4 partitions: see the hand-written section)", "reported",
			fmt.Sprintf("%d, %s", drain[0].Partitions, decidedBy(drain[0].DecidedBy)), "n/a"})
	}
	out = append(out, r.ratioChecks("auth herd, code requests", "auth-codes", "auth-limit", 0, "p95", 0)...)
	out = append(out, r.ratioChecks("auth herd, verifications", "auth-verify", "auth-limit", 0, "p95", 0)...)
	if codes := r.byScenario("auth-codes"); len(codes) > 0 {
		out = append(out, Check{"auth herd: code emails delivered into Mailpit per second (first request → last arrival)", "reported",
			fmt.Sprintf("%s (%s of %d emails)", fmtF(median(collect(codes, func(x *Result) float64 { return x.AuthEmailRate })), "%.0f/s"),
				fmtF(median(collect(codes, func(x *Result) float64 { return float64(x.AuthEmails) })), "%.0f"), codes[0].Participants), "n/a"})
		out = append(out, Check{"auth herd: request → code email in Mailpit, p95 (p50)", "reported",
			fmt.Sprintf("%s (%s)", fmtF(median(collect(codes, func(x *Result) float64 { return secs(x.AuthEmailP95) })), "%.2f s"),
				fmtF(median(collect(codes, func(x *Result) float64 { return secs(x.AuthEmailP50) })), "%.2f s")), "n/a"})
	}
	if verify := r.byScenario("auth-verify"); len(verify) > 0 {
		all := true
		for _, x := range verify {
			all = all && x.AuthTokens == x.Requests && x.Errors == 0
		}
		out = append(out, Check{"auth herd: every verification answered with a participant token", "all",
			fmt.Sprintf("%s of %s", fmtF(median(collect(verify, func(x *Result) float64 { return float64(x.AuthTokens) })), "%.0f"),
				fmtF(median(collect(verify, func(x *Result) float64 { return float64(x.Requests) })), "%.0f")), verdict(all)})
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
	var gc []float64
	worst := math.NaN()
	for _, run := range r.Runs {
		for _, res := range run {
			if res.GCShare >= 0 && !res.Bare && !res.Direct && !res.Auth {
				gc = append(gc, res.GCShare)
				if math.IsNaN(worst) || res.GCShare > worst {
					worst = res.GCShare
				}
			}
		}
	}
	if len(gc) > 0 {
		out = append(out, Check{"apply-gateway GC share of its CPU (runtime/metrics; median, worst of the apply scenarios)", "no GC thrash (reported)",
			fmt.Sprintf("%s, worst %s", fmtF(median(gc)*100, "%.1f %%"), fmtF(worst*100, "%.1f %%")), "n/a"})
	}
	var loads []float64
	for _, run := range r.Runs {
		for _, res := range run {
			loads = append(loads, res.Load)
		}
	}
	if len(loads) > 0 {
		sort.Float64s(loads)
		out = append(out, Check{"machine load average (1 min) at the end of the scenarios: median, max", "reported",
			fmt.Sprintf("%.2f, %.2f", median(loads), loads[len(loads)-1]), "n/a"})
	}
	return out
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
	other := f(func(x *Result) float64 { return x.OtherCPU }, "%.1f") + " / " + f(func(x *Result) float64 { return x.BusyCPU }, "%.1f") +
		" (load " + f(func(x *Result) float64 { return x.Load }, "%.1f") + ")"
	if len(rs) > 0 && (rs[0].Bare || rs[0].Auth) {
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
	"202", "winners", "persisted after last 202 (s)", "emails after decisions (s)", "peak lag", "decisions/s", "foreign / all CPU s (load)"}

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
		case s.Auth() && !s.Bare():
			p("- **%s**: %d participants at once over %d connections, each connection from its own loopback address (auth limits code requests per client address), `POST %s` through nginx%s.\n",
				s.Name, s.Participants, s.Conns, s.Path, map[bool]string{true: ": each participant sends the code it found in Mailpit after auth-codes", false: ": one code request each; the tool then waits for every code email in Mailpit and times its arrival"}[s.Path == AuthVerifyPath])
		case s.Bare() && s.URL != "":
			p("- **%s**: %d requests over %d connections, the shape of the scenario it is named after, straight to the bare handler at %s (no nginx), as the replica scenario hits one apply-gateway.\n",
				s.Name, s.Requests(), s.Conns, s.URL)
		case s.Bare() && s.AuthShape:
			p("- **%s**: %d requests with a JSON body over %d connections, the auth phases' shape, to `POST %s` behind the same nginx (all from 127.0.0.1: nginx admits only its admin allow-list to the bare route).\n",
				s.Name, s.Requests(), s.Conns, s.Path)
		case s.SoldOut:
			where := "through nginx"
			if s.URL != "" {
				where = "straight at one apply-gateway replica, " + s.URL + ", without nginx"
			}
			p("- **%s**: the herd's shape (%d requests over %d connections) %s, at an event already sold out (stock set to the winners so far): every apply takes the shed path, answered 409 from the gateways' sold-out flag; a 202 or a decision counts as an error.\n",
				s.Name, s.Requests(), s.Conns, where)
		case s.Event() && s.URL != "":
			p("- **%s**: the herd's shape (%d requests over %d connections; stock %d) straight at one apply-gateway replica, %s, without nginx.\n",
				s.Name, s.Requests(), s.Conns, s.Stock, s.URL)
		case s.Event():
			p("- **%s**: %d participants, +%.0f %% duplicate applies, +%.0f %% invalid tokens = %d requests over %d connections, all starting at once, each sending its next request as soon as its answer arrives; stock %d.\n",
				s.Name, s.Participants, s.Duplicates*100, s.Invalid*100, s.Requests(), s.Conns, s.Stock)
		default:
			p("- **%s**: %d requests over %d connections, the shape of the scenario it is named after, to `POST %s`: a handler that answers the 202 envelope and does nothing (served as the gateways are: see the bare handler line below), behind the same nginx.\n",
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
					extra += phaseSplit(res.MeanPhase)
				}
				if res.Partitions > 0 {
					extra += fmt.Sprintf("; %d partitions, %s", res.Partitions, decidedBy(res.DecidedBy))
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

	r.answerCPUTable(p, table, names)

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

// answerCPUTable prints, for the scenarios that send requests, where the
// machine's CPU went while the client waited for answers: a scenario whose
// answers share the cores with the work behind them (decisions, emails)
// shows it here.
func (r *Report) answerCPUTable(p func(string, ...any), table func([]string, [][]string), names []string) {
	var scenarios []Scenario
	for _, s := range r.Scenarios {
		for _, res := range r.byScenario(s.Name) {
			if res.AnswerBusyCPU > 0 {
				scenarios = append(scenarios, s)
				break
			}
		}
	}
	if len(scenarios) == 0 {
		return
	}
	p("### CPU seconds from the first request to the last answer (medians)\n\n")
	header := []string{"process"}
	for _, s := range scenarios {
		header = append(header, s.Name)
	}
	var rows [][]string
	for _, n := range names {
		row := []string{n}
		for _, s := range scenarios {
			var cpu []float64
			for _, res := range r.byScenario(s.Name) {
				if pr, ok := res.Proc(n); ok && res.AnswerBusyCPU > 0 {
					cpu = append(cpu, pr.AnswerCPUSeconds)
				}
			}
			row = append(row, fmtF(median(cpu), "%.2f"))
		}
		rows = append(rows, row)
	}
	busy, avail := []string{"machine busy"}, []string{"machine available (answer time × cores)"}
	for _, s := range scenarios {
		rs := r.byScenario(s.Name)
		busy = append(busy, fmtF(median(collect(rs, func(x *Result) float64 { return x.AnswerBusyCPU })), "%.2f"))
		avail = append(avail, fmtF(median(collect(rs, func(x *Result) float64 { return x.Elapsed.Seconds() * float64(r.Machine.NProc) })), "%.2f"))
	}
	rows = append(rows, busy, avail)
	table(header, rows)
	p("The same counters as above, read again the moment the last answer arrived: what each process used while the client was still waiting. \"machine busy\" is all CPUs' busy time in that window (/proc/stat); when it is near \"machine available\", the answers waited for CPU.\n\n")
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

// decidedBy says which stock-consumer endpoints decided how many of a
// scenario's applications, busiest first.
func decidedBy(by map[string]float64) string {
	var names []string
	for k, v := range by {
		if v > 0 {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return "no consumer decided"
	}
	sort.Slice(names, func(i, j int) bool {
		if by[names[i]] != by[names[j]] {
			return by[names[i]] > by[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.0f", n, by[n])
	}
	noun := "consumers decided"
	if len(names) == 1 {
		noun = "consumer decided"
	}
	return fmt.Sprintf("%d %s (%s)", len(names), noun, strings.Join(parts, ", "))
}

// phases are the steps of a consumer batch, in the order it takes them.
var phases = []string{"watermark", "decide", "persist", "log_copy", "publish"}

// phaseSplit says how a mean batch's time divides into its steps.
func phaseSplit(mean map[string]float64) string {
	if len(mean) == 0 {
		return ""
	}
	parts := make([]string, 0, len(phases))
	for _, ph := range phases {
		if v, ok := mean[ph]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", ph, v*1000))
		}
	}
	return " (ms: " + strings.Join(parts, ", ") + ")"
}
