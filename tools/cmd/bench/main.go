// Command bench is `make bench`: against the running local stack it fires the
// seed, herd and limit scenarios several times through nginx, follows each
// round until every decision is in MySQL and every winner's email in Mailpit,
// and writes docs/benchmarks.md with PNG charts in docs/bench/.
//
// The machine is shared: the tool holds an exclusive flock on
// .run/stack.lock for its whole run (waiting for other holders), and sends
// only to 127.0.0.1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
	"github.com/terning-farewell/farewell/pkg/stackclient"
	"github.com/terning-farewell/farewell/tools/internal/bench"
	"github.com/terning-farewell/farewell/tools/internal/benchbare"
)

type options struct {
	runs              int
	scenarios         string
	scale             float64
	seedParticipants  int
	seedStock         int64
	herdParticipants  int
	herdStock         int64
	kafkaParticipants int
	drainParticipants int
	authParticipants  int
	replicaURL        string
	drainStock        int64
	conns             int
	duplicates        float64
	invalid           float64
	baseURL           string
	mailpitURL        string
	consumerMetrics   string
	envFile           string
	bareInProcess     bool
	serveBare         string
	report            string
	chartsDir         string
	outDir            string
	profile           string
	profileSeconds    int
	settle            time.Duration
	emailWait         time.Duration
	requestTimeout    time.Duration
	pause             time.Duration
	timeout           time.Duration
	lockFile          string
	from              string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 3, "full runs (every scenario once each); medians are over these")
	flag.StringVar(&o.scenarios, "scenarios", "seed,seed-limit,herd,limit,shed,replica,replica-limit,shed-replica,kafka,kafka-limit,auth-codes,auth-verify,auth-limit,drain",
		"scenarios to run, in order (the -limit ones hit the bare handler; shed and shed-replica are the herd and replica with the event sold out before they start; drain writes straight to Kafka; auth-verify needs auth-codes before it)")
	flag.Float64Var(&o.scale, "scale", 1, "multiplies the herd's (and limit's) participants, e.g. 0.2 for a quick run")
	flag.IntVar(&o.seedParticipants, "seed-participants", 1500, "seed: participants, one apply each")
	flag.Int64Var(&o.seedStock, "seed-stock", 100, "seed: gifts")
	flag.IntVar(&o.herdParticipants, "herd-participants", 20000, "herd, limit, shed, replica, replica-limit, shed-replica: participants before -scale")
	flag.Int64Var(&o.herdStock, "herd-stock", 1000, "herd and replica: gifts")
	flag.IntVar(&o.kafkaParticipants, "kafka-participants", 5000, "kafka and kafka-limit: participants before -scale, one apply each; the stock covers them all, so every apply goes through Kafka")
	flag.IntVar(&o.drainParticipants, "drain-participants", 100000, "drain: applications written to Kafka, before -scale")
	flag.Int64Var(&o.drainStock, "drain-stock", 1000, "drain: gifts")
	flag.IntVar(&o.authParticipants, "auth-participants", 5000, "auth-codes, auth-verify, auth-limit: participants before -scale")
	flag.StringVar(&o.replicaURL, "replica", "http://127.0.0.1:8083", "replica: the apply-gateway instance hit straight, without nginx")
	flag.IntVar(&o.conns, "conns", 1000, "herd, limit, replica, kafka, auth and their ceilings: concurrent connections (seed uses one per participant)")
	flag.Float64Var(&o.duplicates, "duplicates", 0.10, "herd and limit: share of participants that apply twice")
	flag.Float64Var(&o.invalid, "invalid", 0, "herd and limit: extra requests with broken tokens, as a share of participants")
	flag.StringVar(&o.baseURL, "url", localstack.NginxURL, "public entry (nginx)")
	flag.StringVar(&o.mailpitURL, "mailpit", localstack.MailpitURL, "Mailpit HTTP API")
	flag.StringVar(&o.consumerMetrics, "consumer-metrics", "http://127.0.0.1:8085/metrics,http://127.0.0.1:8087/metrics", "stock-consumers' Prometheus endpoints, comma-separated (summed)")
	flag.StringVar(&o.envFile, "env", "", "stack environment file (default: the nearest .run/farewell.env)")
	flag.BoolVar(&o.bareInProcess, "bare-in-process", false,
		"serve the bare handler inside the load generator instead of one process per apply-gateway instance (how the ceiling was served before; for comparison)")
	flag.StringVar(&o.serveBare, "serve-bare", "", "internal: serve only the bare handler at this address until SIGTERM (the bench starts itself this way)")
	flag.StringVar(&o.report, "report", "docs/benchmarks.md", "report to write, relative to the repository root ('' = none)")
	flag.StringVar(&o.chartsDir, "charts", "docs/bench", "directory of the PNG charts, relative to the repository root")
	flag.StringVar(&o.outDir, "out", ".run/bench", "raw results and profiles, relative to the repository root")
	flag.StringVar(&o.profile, "profile", "herd:apply-gateway-1=http://127.0.0.1:8083,drain:stock-consumer-1=http://127.0.0.1:8085,drain:stock-consumer-2=http://127.0.0.1:8087",
		"scenario:instance=URL of services to profile (CPU, and heap halfway) when their /debug/pprof answers (FAREWELL_PPROF=true)")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 8, "length of the CPU profiles")
	flag.DurationVar(&o.settle, "settle", time.Minute, "wait at most this long for the decisions after the last answer")
	flag.DurationVar(&o.emailWait, "email-wait", time.Minute, "then at most this long for the winners' emails")
	flag.DurationVar(&o.requestTimeout, "request-timeout", 30*time.Second, "per request")
	flag.DurationVar(&o.pause, "pause", 3*time.Second, "quiet time between scenarios")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long (including waiting for the lock)")
	flag.StringVar(&o.lockFile, "lock", "", "exclusive lock file (default: <repo>/.run/stack.lock)")
	flag.StringVar(&o.from, "from", "", "no load: rebuild the report and charts from an earlier run's results.json")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.serveBare != "" {
		if err := benchbare.Serve(ctx, o.serveBare); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := realMain(ctx, o, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, o options, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.runs < 1 || o.conns < 1 || o.scale <= 0 {
		return errors.New("-runs, -conns and -scale must be positive")
	}
	envPath, err := localstack.FindEnvFile(o.envFile)
	if err != nil {
		return err
	}
	root := localstack.PathsOfEnvFile(envPath).Root
	env, err := localstack.LoadEnv(envPath)
	if err != nil {
		return err
	}
	if o.from != "" {
		return replot(ctx, o, root)
	}
	scenarios, err := o.plan()
	if err != nil {
		return err
	}
	rep := &bench.Report{
		Command: "make bench" + quoteArgs(args),
		Machine: bench.DescribeMachine(),
	}
	if note, err := raiseFileLimit(uint64(2*maxConns(scenarios) + 1024)); err != nil {
		return err
	} else if note != "" {
		rep.Limits = append(rep.Limits, note)
		fmt.Println(note)
	}

	lockPath := o.lockFile
	if lockPath == "" {
		lockPath = localstack.NewPaths(root).Lock
	}
	lock, err := localstack.AcquireLock(ctx, lockPath, 0, "bench", os.Stdout)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Release() }()
	if lock.Inherited {
		fmt.Printf("stack lock %s: held by the flock(1) that started this run\n", lockPath)
	} else {
		fmt.Printf("stack lock %s: held for this run\n", lockPath)
	}
	rep.Limits = append(rep.Limits, fmt.Sprintf("The run held the exclusive stack lock `%s` throughout (other load and chaos runs wait for it).", rel(root, lockPath)))

	st, closeStack, err := connect(ctx, o, root, env)
	if err != nil {
		return err
	}
	defer closeStack()

	if anyBare(scenarios) {
		stopBare, procs, note, err := startBare(ctx, o.bareInProcess)
		if err != nil {
			return err
		}
		defer stopBare()
		st.Procs = append(st.Procs, procs...)
		rep.Limits = append(rep.Limits, note)
		fmt.Println(note)
		if err := bench.CheckBareRoute(ctx, o.baseURL); err != nil {
			fmt.Printf("limit scenarios skipped: %v\n", err)
			rep.Limits = append(rep.Limits, "limit scenarios skipped: "+err.Error())
			scenarios = withoutNginxBare(scenarios)
		}
	}
	rep.Scenarios = scenarios
	if !bench.Running(st.Procs, "notifier") {
		fmt.Println("note: notifier is not running; winner emails will not be measured")
	}

	stamp := time.Now().Unix()
	st.OutDir = filepath.Join(under(root, o.outDir), fmt.Sprint(stamp))
	if err := os.MkdirAll(st.OutDir, 0o755); err != nil {
		return err
	}
	for run := 0; run < o.runs; run++ {
		fmt.Printf("run %d of %d\n", run+1, o.runs)
		var results []*bench.Result
		for _, s := range scenarios {
			prefix := fmt.Sprintf("b%d%s%02d", stamp, s.Name, run+1)
			res, err := bench.RunScenario(ctx, st, s, run, prefix)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", run+1, s.Name, err)
			}
			results = append(results, res)
			printOutcome(res)
			sleepCtx(ctx, o.pause)
		}
		rep.Runs = append(rep.Runs, results)
	}
	return finish(ctx, o, root, st.OutDir, rep)
}

// replot rebuilds the report from a results.json without sending any load.
func replot(ctx context.Context, o options, root string) error {
	raw, err := os.ReadFile(o.from)
	if err != nil {
		return err
	}
	var rep bench.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("%s: %w", o.from, err)
	}
	if len(rep.Runs) == 0 {
		return fmt.Errorf("%s holds no runs", o.from)
	}
	return finish(ctx, o, root, filepath.Dir(o.from), &rep)
}

// plan turns the flags into scenarios.
func (o options) plan() ([]bench.Scenario, error) {
	scaled := func(n int) int { return max(int(float64(n)*o.scale+0.5), 1) }
	herdN, kafkaN, authN := scaled(o.herdParticipants), scaled(o.kafkaParticipants), scaled(o.authParticipants)
	bareURL := "http://" + localstack.BareAddrs()[0]
	all := map[string]bench.Scenario{
		"seed":       {Name: "seed", Path: bench.ApplyPath, Participants: o.seedParticipants, Conns: o.seedParticipants, Stock: o.seedStock, Ceiling: "seed-limit"},
		"seed-limit": {Name: "seed-limit", Path: benchbare.Path, Participants: o.seedParticipants, Conns: o.seedParticipants},
		"herd": {Name: "herd", Path: bench.ApplyPath, Participants: herdN, Duplicates: o.duplicates, Invalid: o.invalid, Conns: o.conns,
			Stock: o.herdStock, Ceiling: "limit"},
		"limit": {Name: "limit", Path: benchbare.Path, Participants: herdN, Duplicates: o.duplicates, Invalid: o.invalid, Conns: o.conns},
		"replica": {Name: "replica", Path: bench.ApplyPath, URL: o.replicaURL, Participants: herdN, Duplicates: o.duplicates, Invalid: o.invalid,
			Conns: o.conns, Stock: o.herdStock, Ceiling: "replica-limit"},
		// The shed path alone: the herd's shape at an event with no gift left.
		"shed": {Name: "shed", Path: bench.ApplyPath, Participants: herdN, Duplicates: o.duplicates, Invalid: o.invalid, Conns: o.conns,
			SoldOut: true, Ceiling: "limit"},
		"shed-replica": {Name: "shed-replica", Path: bench.ApplyPath, URL: o.replicaURL, Participants: herdN, Duplicates: o.duplicates, Invalid: o.invalid,
			Conns: o.conns, SoldOut: true, Ceiling: "replica-limit"},
		"replica-limit": {Name: "replica-limit", Path: benchbare.Path, URL: bareURL, Participants: herdN, Duplicates: o.duplicates, Invalid: o.invalid, Conns: o.conns},
		"kafka":         {Name: "kafka", Path: bench.ApplyPath, Participants: kafkaN, Conns: o.conns, Stock: int64(kafkaN), Ceiling: "kafka-limit"},
		"kafka-limit":   {Name: "kafka-limit", Path: benchbare.Path, Participants: kafkaN, Conns: o.conns},
		"auth-codes":    {Name: "auth-codes", Path: bench.AuthCodesPath, Participants: authN, Conns: o.conns, Ceiling: "auth-limit"},
		"auth-verify":   {Name: "auth-verify", Path: bench.AuthVerifyPath, Participants: authN, Conns: o.conns, Ceiling: "auth-limit"},
		"auth-limit":    {Name: "auth-limit", Path: benchbare.Path, Participants: authN, Conns: o.conns, AuthShape: true},
		"drain":         {Name: "drain", Path: bench.DrainPath, Participants: scaled(o.drainParticipants), Stock: o.drainStock},
	}
	var out []bench.Scenario
	for _, name := range strings.Split(o.scenarios, ",") {
		s, ok := all[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("unknown scenario %q (seed, seed-limit, herd, limit, shed, replica, replica-limit, shed-replica, kafka, kafka-limit, auth-codes, auth-verify, auth-limit, drain)", name)
		}
		out = append(out, s)
	}
	return out, nil
}

func connect(ctx context.Context, o options, root string, env map[string]string) (*bench.Stack, func(), error) {
	minter, err := stackclient.NewMinter(env)
	if err != nil {
		return nil, nil, fmt.Errorf("local token settings: %w", err)
	}
	client := stackclient.NewClient(o.baseURL, env["FAREWELL_ADMIN_KEY"], 8)
	if _, err := client.Stats(ctx); err != nil {
		return nil, nil, fmt.Errorf("is the stack up (`make run`)? %w", err)
	}
	procs, err := bench.StackProcs(localstack.NewPaths(root))
	if err != nil {
		return nil, nil, err
	}
	dec, err := bench.OpenDecisions(env["FAREWELL_MYSQL_DSN"], env["FAREWELL_EVENT_ID"])
	if err != nil {
		return nil, nil, err
	}
	small := &http.Client{Timeout: 5 * time.Second}
	st := &bench.Stack{
		BaseURL:        o.baseURL,
		Client:         client,
		Mailpit:        &stackclient.Mailpit{URL: o.mailpitURL, HTTP: small},
		Minter:         minter,
		Decisions:      dec,
		Consumer:       &bench.Metrics{URL: o.consumerMetrics, HTTP: small},
		Procs:          procs,
		ProfileSeconds: o.profileSeconds,
		Settle:         o.settle,
		EmailWait:      o.emailWait,
		RequestTimeout: o.requestTimeout,
		Log:            os.Stdout,
		Brokers:        strings.Split(env["FAREWELL_KAFKA_BROKERS"], ","),
		EventID:        env["FAREWELL_EVENT_ID"],
		Gateways: []*bench.Metrics{
			{URL: "http://127.0.0.1:8083/metrics", HTTP: small},
			{URL: "http://127.0.0.1:8084/metrics", HTTP: small},
		},
	}
	for _, entry := range strings.Split(o.profile, ",") {
		target, u, ok := strings.Cut(strings.TrimSpace(entry), "=")
		scenario, name, ok2 := strings.Cut(target, ":")
		if !ok || !ok2 {
			if entry != "" {
				return nil, nil, fmt.Errorf("-profile %q: want scenario:instance=URL", entry)
			}
			continue
		}
		st.Profiles = append(st.Profiles, bench.ProfileTarget{Scenario: scenario, Name: name, URL: u})
	}
	return st, func() { dec.Close() }, nil
}

// finish writes the raw results, charts and report, then prints the summary.
func finish(ctx context.Context, o options, root, outDir string, rep *bench.Report) error {
	raw, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "results.json"), raw, 0o644); err != nil {
		return err
	}
	rep.ChartsRun = rep.MedianRun()
	if o.chartsDir != "" && len(rep.Runs) > 0 {
		dir := under(root, o.chartsDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		files, err := bench.WriteCharts(dir, rep.Runs[rep.ChartsRun])
		if err != nil {
			return err
		}
		reportDir := filepath.Dir(under(root, o.report))
		for _, f := range files {
			rep.Charts = append(rep.Charts, rel(reportDir, f))
		}
	}
	// The report shows the profiles of the median run, else of the first run with any.
	order := append([]int{rep.ChartsRun}, seq(len(rep.Runs))...)
	for _, i := range order {
		for _, res := range rep.Runs[i] {
			for _, f := range res.Profiles {
				top, err := bench.PprofTop(ctx, f, 30)
				if err != nil {
					fmt.Fprintln(os.Stderr, "bench:", err)
					continue
				}
				rep.Profiles = append(rep.Profiles, bench.ProfileExcerpt{File: rel(root, f), Top: top})
			}
		}
		if len(rep.Profiles) > 0 {
			break
		}
	}
	for _, run := range rep.Runs {
		for _, res := range run {
			for _, f := range res.Profiles {
				if top, err := bench.PprofTopCum(ctx, f, 60); err == nil {
					_ = os.WriteFile(f+".top-cum.txt", []byte(top+"\n"), 0o644)
				}
				if top, err := bench.PprofTop(ctx, f, 45); err == nil {
					_ = os.WriteFile(f+".top.txt", []byte(top+"\n"), 0o644)
				}
			}
		}
	}
	if o.report != "" {
		path := under(root, o.report)
		if err := rep.WriteMarkdown(path); err != nil {
			return err
		}
		fmt.Printf("\nwrote %s, charts in %s, raw results in %s\n", path, under(root, o.chartsDir), outDir)
	}
	rep.PrintSummary(os.Stdout)
	return nil
}

func printOutcome(r *bench.Result) {
	if r.Bare {
		return
	}
	fmt.Printf("        202 %d (distinct %d), persisted %d (%.0f/s), winners %d", r.Accepted, r.DistinctAccepted, r.Persisted, r.PersistRate, r.Winners)
	if r.PersistAfterLast202 != bench.NotMeasured {
		fmt.Printf(", last decided %+.2fs after the last 202", r.PersistAfterLast202.Seconds())
	}
	if r.Batches > 0 {
		fmt.Printf("; consumer %.0f batches of %.0f, %.1f ms each", r.Batches, r.MeanBatch, r.MeanBatchTime*1000)
	}
	fmt.Printf("; emails %d", r.Emails)
	if r.EmailsAfterDecisions != bench.NotMeasured {
		fmt.Printf(" (%.2fs after the decisions)", r.EmailsAfterDecisions.Seconds())
	}
	fmt.Println()
	for _, n := range r.Notes {
		fmt.Println("        note:", n)
	}
}

// raiseFileLimit lifts RLIMIT_NOFILE to need (the herd's connections plus the
// bare handler's) and says so.
func raiseFileLimit(need uint64) (string, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "", err
	}
	if lim.Cur >= need {
		return fmt.Sprintf("RLIMIT_NOFILE %d already covers the %d descriptors the run needs.", lim.Cur, need), nil
	}
	old := lim.Cur
	lim.Cur = need
	if lim.Max < need {
		lim.Max = need // only root may; the error below says so otherwise
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "", fmt.Errorf("raise RLIMIT_NOFILE from %d to %d: %w (raise `ulimit -n`)", old, need, err)
	}
	return fmt.Sprintf("Raised RLIMIT_NOFILE of the tool from %d to %d (setrlimit) for the connections.", old, need), nil
}

func maxConns(ss []bench.Scenario) int {
	n := 0
	for _, s := range ss {
		n = max(n, s.Conns)
	}
	return n
}

// bareMaxProcs is the bare processes' GOMAXPROCS unless the caller sets
// one: what the local stack gives every service instance (and a CPU limit
// of 1 gives it in its container).
const bareMaxProcs = "1"

// startBare serves the bare handler at every address of nginx's bench_bare
// upstream: by default one child process each (this program with
// -serve-bare), started the way the stack starts a gateway replica (its own
// session, GOMAXPROCS=1 unless the caller sets it), else (inProcess) inside
// this process. It returns how to stop them, the processes to account for,
// and a line for the report.
func startBare(ctx context.Context, inProcess bool) (func(), []bench.Proc, string, error) {
	addrs := localstack.BareAddrs()
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, "", fmt.Errorf("bare handler: %w", err)
	}
	maxProcs := os.Getenv("GOMAXPROCS")
	var env []string
	if maxProcs == "" {
		maxProcs = bareMaxProcs
		env = append(env, "GOMAXPROCS="+bareMaxProcs)
	}
	fleet, err := benchbare.StartFleet(ctx, addrs, inProcess, env, exe, "-serve-bare")
	if err != nil {
		return nil, nil, "", err
	}
	stop := func() {
		if err := fleet.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	if inProcess {
		return stop, nil, fmt.Sprintf("The bare handler was served inside the load generator at %s (-bare-in-process).", strings.Join(addrs, ", ")), nil
	}
	var procs []bench.Proc
	for i, pid := range fleet.PIDs() {
		procs = append(procs, bench.Proc{Name: fmt.Sprintf("bare-%d", i+1), PID: pid})
	}
	return stop, procs, fmt.Sprintf("The bare handler was served as the gateways are: one process per apply-gateway instance (%s), each in its own session with GOMAXPROCS=%s; replica-limit hits the first.",
		strings.Join(addrs, ", "), maxProcs), nil
}

// anyBare reports whether a scenario needs the bare handler.
func anyBare(ss []bench.Scenario) bool {
	for _, s := range ss {
		if s.Bare() {
			return true
		}
	}
	return false
}

// withoutNginxBare drops the ceilings served through nginx (its route is
// missing); the scenarios compared with them then report no ratio.
func withoutNginxBare(ss []bench.Scenario) []bench.Scenario {
	dropped := map[string]bool{}
	for _, s := range ss {
		if s.Bare() && s.URL == "" {
			dropped[s.Name] = true
		}
	}
	var out []bench.Scenario
	for _, s := range ss {
		if !dropped[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

func quoteArgs(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return " ARGS='" + strings.Join(args, " ") + "'"
}

// under resolves a flag's path against the repository root unless it is absolute.
func under(root, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(root, path)
}

func rel(base, path string) string {
	if r, err := filepath.Rel(base, path); err == nil {
		return r
	}
	return path
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
