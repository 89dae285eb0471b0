package chaos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	_ "github.com/go-sql-driver/mysql" // database/sql driver for the source-of-truth queries
	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/localstack"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/stackclient"
	"github.com/terning-farewell/farewell/pkg/token"
	"github.com/terning-farewell/farewell/tools/internal/supervisor"
)

// Addresses of the local stack (pkg/localstack).
const (
	nginxURL   = localstack.NginxURL
	mailpitURL = localstack.MailpitURL
)

// componentNamed returns the component of the running topology called name.
func (s *Stack) componentNamed(name string) localstack.Component {
	c, ok := s.Topology.Lookup(name)
	if !ok {
		panic("chaos: unknown component " + name) // programming error: names are constants
	}
	return c
}

// Stack is the running local stack seen from the outside: its files, its
// processes, and clients for every source of truth.
type Stack struct {
	Root  string
	Paths localstack.Paths
	// Topology is the one recorded in .run/topology by `stack up`.
	Topology localstack.Topology
	Env      map[string]string
	EventID  string
	Keys     redisx.EventKeys

	API     *stackclient.Client
	Minter  *token.Codec
	Redis   *redis.Client
	DB      *sql.DB
	Mailpit *Mailpit
	Log     io.Writer // progress lines for the operator

	http     *http.Client
	chaosLog *os.File
	// sup brings stopped infrastructure back the way `make infra` does.
	sup *supervisor.Supervisor

	mu       sync.Mutex
	children map[int]chan int // pid -> exit code, for processes this run started
	// faulty is the pid of a stock-consumer started with a fault point.
	faulty int
	// mailpitReplaced is set while a Mailpit with chaos settings runs.
	mailpitReplaced bool
}

// OpenStack finds the stack's root (the directory holding .run/farewell.env)
// from the working directory and connects to every source of truth.
func OpenStack(log io.Writer) (*Stack, error) {
	envPath, err := localstack.FindEnvFile(os.Getenv("FAREWELL_TEST_ENV_FILE"))
	if err != nil {
		return nil, fmt.Errorf("the local stack is not running (%w): start it with `make run`", err)
	}
	env, err := localstack.LoadEnv(envPath)
	if err != nil {
		return nil, err
	}
	paths := localstack.PathsOfEnvFile(envPath)
	root := paths.Root
	topo, err := localstack.RecordedTopology(paths)
	if err != nil {
		return nil, err
	}
	minter, err := stackclient.NewMinter(env)
	if err != nil {
		return nil, fmt.Errorf("local token settings: %w", err)
	}
	eventID := env["FAREWELL_EVENT_ID"]
	if eventID == "" {
		eventID = "final-gift"
	}
	dsn := env["FAREWELL_MYSQL_DSN"]
	if dsn == "" {
		return nil, fmt.Errorf("%s has no FAREWELL_MYSQL_DSN", envPath)
	}
	// The services' DSN allows multiStatements; the checks need neither that
	// nor long waits.
	if i := strings.Index(dsn, "?"); i >= 0 {
		dsn = dsn[:i]
	}
	db, err := sql.Open("mysql", dsn+"?parseTime=true&timeout=2s&readTimeout=10s&writeTimeout=10s")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetConnMaxLifetime(30 * time.Second)
	logFile, err := os.OpenFile(paths.LogFile("chaos"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	s := &Stack{
		Root: root, Paths: paths, Topology: topo, Env: env, EventID: eventID, Keys: redisx.KeysFor(eventID),
		API:      stackclient.NewClient(nginxURL, env["FAREWELL_ADMIN_KEY"], 512),
		Minter:   minter,
		Redis:    newRedisClient(env),
		DB:       db,
		Mailpit:  &Mailpit{URL: mailpitURL, HTTP: &http.Client{Timeout: 10 * time.Second}},
		Log:      log,
		http:     hc,
		chaosLog: logFile,
		children: map[int]chan int{},
		sup: supervisor.New(supervisor.Config{
			Paths:    paths,
			Topology: topo,
			Environ:  callerEnviron(),
			Out:      logFile,
			Err:      logFile,
		}),
	}
	s.API.HTTP.Timeout = 20 * time.Second
	return s, nil
}

// Close closes the clients (not the stack).
func (s *Stack) Close() {
	_ = s.Redis.Close()
	_ = s.DB.Close()
	_ = s.chaosLog.Close()
}

// callerEnviron is our environment without FAREWELL_* settings: what the
// stack's processes get comes from its environment file only.
// newRedisClient connects the checks to the stack's Redis the way the
// services do: through Sentinel (following a promotion) when the
// environment file names Sentinels, else directly.
func newRedisClient(env map[string]string) *redis.Client {
	if sentinels := env["FAREWELL_REDIS_SENTINELS"]; sentinels != "" {
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: env["FAREWELL_REDIS_MASTER"], SentinelAddrs: strings.Split(sentinels, ","),
			Password: env["FAREWELL_REDIS_PASSWORD"], DialTimeout: time.Second, ReadTimeout: 5 * time.Second,
			MaxRetries: 1, PoolSize: 8,
		})
	}
	return redis.NewClient(&redis.Options{Addr: envOr(env, "FAREWELL_REDIS_ADDR", localstack.RedisAddr),
		Password: env["FAREWELL_REDIS_PASSWORD"], DialTimeout: time.Second, ReadTimeout: 5 * time.Second,
		MaxRetries: 1, PoolSize: 8})
}

func callerEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FAREWELL_") {
			out = append(out, kv)
		}
	}
	return out
}

func envOr(env map[string]string, key, def string) string {
	if v := env[key]; v != "" {
		return v
	}
	return def
}

// Logf writes a timestamped line to the operator and to .run/logs/chaos.log.
func (s *Stack) Logf(format string, args ...any) {
	line := fmt.Sprintf("%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	_, _ = io.WriteString(s.Log, line)
	_, _ = io.WriteString(s.chaosLog, line)
}

// ---------------------------------------------------------------- processes

func (s *Stack) pidFile(name string) string { return s.Paths.PidFile(name) }

// runningPid returns the recorded pid of name if that process is alive and
// is ours (localstack's pid-file check), else 0.
func (s *Stack) runningPid(name string) int {
	return s.Paths.RunningPid(s.componentNamed(name))
}

// Signal sends sig to the recorded process of name and, when wait > 0,
// waits for it to exit (SIGKILL after wait). It returns the pid.
func (s *Stack) Signal(name string, sig syscall.Signal, wait time.Duration) (int, error) {
	pid := s.runningPid(name)
	if pid == 0 {
		return 0, fmt.Errorf("%s is not running (no live pid in %s)", name, s.pidFile(name))
	}
	s.Logf("fault: %s %s (pid %d)", sigName(sig), name, pid)
	if err := syscall.Kill(pid, sig); err != nil {
		return pid, fmt.Errorf("signal %s (pid %d): %w", name, pid, err)
	}
	if wait <= 0 {
		return pid, nil
	}
	if s.waitExit(pid, wait) {
		return pid, nil
	}
	s.Logf("%s (pid %d) still alive after %s: SIGKILL", name, pid, wait)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !s.waitExit(pid, 10*time.Second) {
		return pid, fmt.Errorf("%s (pid %d) survived SIGKILL", name, pid)
	}
	return pid, nil
}

func sigName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGKILL:
		return "kill -9"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// waitExit polls until pid is gone (or a zombie) or d passed.
func (s *Stack) waitExit(pid int, d time.Duration) bool {
	s.mu.Lock()
	done := s.children[pid]
	s.mu.Unlock()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if done != nil {
			select {
			case <-done:
				return true
			default:
			}
		} else if !localstack.Alive(pid) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// instanceNames returns the names of every instance of service
// ("stock-consumer-1", "stock-consumer-2").
func instanceNames(service string) []string {
	var out []string
	for _, c := range localstack.InstancesOf(service) {
		out = append(out, c.Name)
	}
	return out
}

// KillAll kill -9s every instance of service and waits until they are gone.
func (s *Stack) KillAll(service string) error {
	var errs []error
	for _, name := range instanceNames(service) {
		errs = append(errs, s.KillService(name))
	}
	return errors.Join(errs...)
}

// RestartAll starts every stopped instance of service and waits until they are ready.
func (s *Stack) RestartAll(ctx context.Context, service string) error {
	for _, name := range instanceNames(service) {
		if s.runningPid(name) != 0 {
			continue
		}
		if _, _, err := s.StartService(name, nil); err != nil {
			return err
		}
	}
	return s.WaitReady(ctx, 90*time.Second, instanceNames(service)...)
}

// KillService kill -9s a service instance and waits until it is gone.
func (s *Stack) KillService(name string) error {
	_, err := s.Signal(name, syscall.SIGKILL, 10*time.Second)
	return err
}

// StartService starts a service instance the way `make run` does (same
// binary in .run/bin, the environment of supervisor.InstanceEnv, output
// appended to .run/logs/<name>.log, its own session) plus extra
// environment, records its pid in .run/pids/<name>.pid and returns a channel
// that receives its exit code. It does not wait for readiness.
func (s *Stack) StartService(name string, extra map[string]string) (int, <-chan int, error) {
	c := s.componentNamed(name)
	if c.Service == "" {
		return 0, nil, fmt.Errorf("%s is not a service", name)
	}
	if pid := s.runningPid(name); pid != 0 {
		return 0, nil, fmt.Errorf("%s is already running (pid %d)", name, pid)
	}
	env, err := s.sup.InstanceEnv(c, extra)
	if err != nil {
		return 0, nil, err
	}
	return s.startProcess(name, filepath.Join(s.Paths.Bin, c.Service), nil, env)
}

func (s *Stack) startProcess(name, bin string, args, env []string) (int, <-chan int, error) {
	logPath := s.Paths.LogFile(name)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, nil, err
	}
	defer logFile.Close()
	_, _ = fmt.Fprintf(logFile, "\n===== %s start %s (by chaos) =====\n", name, time.Now().Format(time.RFC3339))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = s.Root
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own session: immune to the operator's Ctrl-C, like the stack's daemons.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	// At the priority `make run` gives it (the notifiers and Mailpit run lower).
	s.sup.LowerPriority(name, pid)
	if err := s.Paths.WritePid(name, pid); err != nil {
		_ = cmd.Process.Kill()
		return 0, nil, err
	}
	done := make(chan int, 1)
	s.mu.Lock()
	s.children[pid] = done
	s.mu.Unlock()
	go func() {
		_ = cmd.Wait() // reaps the child
		code := -1
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		}
		done <- code
		close(done)
	}()
	s.Logf("started %s (pid %d)", name, pid)
	return pid, done, nil
}

// RestartService starts a stopped service instance normally and waits until
// its /readyz answers 200.
func (s *Stack) RestartService(ctx context.Context, name string) error {
	if _, _, err := s.StartService(name, nil); err != nil {
		return err
	}
	return s.WaitReady(ctx, 90*time.Second, name)
}

// StartInfra brings every stopped infrastructure component back the way
// `make infra` does (supervisor.EnsureInfra: starts only what is down, waits
// until it is ready, ensures the topics; its progress goes to
// .run/logs/chaos.log) and waits until the named ones are ready. The caller
// already holds the stack lock.
func (s *Stack) StartInfra(ctx context.Context, names ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	start := time.Now()
	err := s.sup.EnsureInfra(ctx)
	if err == nil {
		s.Logf("infra ensured in %s", time.Since(start).Round(100*time.Millisecond))
	}
	// The supervisor may fail on something unrelated (e.g. an nginx template
	// being edited); what matters is that the components are ready.
	if werr := s.WaitReady(ctx, 90*time.Second, names...); werr != nil {
		return errors.Join(err, werr)
	}
	if err != nil {
		s.Logf("note: %v (components ready anyway)", err)
	}
	return nil
}

// ---------------------------------------------------------------- readiness

// ready checks one component once.
func (s *Stack) ready(ctx context.Context, c localstack.Component) error {
	if s.runningPid(c.Name) == 0 {
		return fmt.Errorf("%s: not running", c.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	switch {
	case c.Name == s.Topology.Redis[0].Name:
		// The primary, wherever Sentinel says it is now; the node itself
		// must answer too.
		if err := s.Redis.Ping(ctx).Err(); err != nil {
			return err
		}
		return localstack.Ready(ctx, c)
	case c.Name == "mariadb":
		return s.DB.PingContext(ctx)
	case c.Comm == "java":
		// Stronger than the port: the applications topic has a leader, and
		// with replication every replica is back in sync.
		return s.kafkaReady(c)
	default:
		return localstack.Ready(ctx, c)
	}
}

func (s *Stack) kafkaReady(c localstack.Component) error {
	conn, err := net.DialTimeout("tcp", c.Addr(), time.Second)
	if err != nil {
		return err
	}
	_ = conn.Close()
	cfg := kafka.NewSaramaConfig("farewell-chaos-ready")
	cfg.Metadata.Retry.Max = 0
	client, err := sarama.NewClient([]string{c.Addr()}, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	if _, err := client.Leader(kafka.TopicApplications, 0); err != nil {
		return err
	}
	if len(s.Topology.Kafka) == 1 {
		return nil
	}
	isr, err := client.InSyncReplicas(kafka.TopicApplications, 0)
	if err != nil {
		return err
	}
	if len(isr) < len(s.Topology.Kafka) {
		return fmt.Errorf("%s: %d of %d replicas of %s in sync", c.Name, len(isr), len(s.Topology.Kafka), kafka.TopicApplications)
	}
	return nil
}

// Unready lists every component (or only names) that is down or not ready.
func (s *Stack) Unready(ctx context.Context, names ...string) []string {
	var bad []string
	for _, c := range s.Topology.Components() {
		if len(names) > 0 && !contains(names, c.Name) {
			continue
		}
		if err := s.ready(ctx, c); err != nil {
			bad = append(bad, fmt.Sprintf("%s (%v)", c.Name, err))
		}
	}
	return bad
}

// WaitReady waits until the named components (all when none) are ready.
func (s *Stack) WaitReady(ctx context.Context, d time.Duration, names ...string) error {
	deadline := time.Now().Add(d)
	for {
		bad := s.Unready(ctx, names...)
		if len(bad) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not ready after %s: %s", d, strings.Join(bad, "; "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Preflight fails with a clear message unless every component is running
// and ready.
func (s *Stack) Preflight(ctx context.Context) error {
	var down []string
	for _, c := range s.Topology.Components() {
		if s.runningPid(c.Name) == 0 {
			down = append(down, c.Name)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("the local stack is not (fully) running — down: %s. Start it with `make run`", strings.Join(down, ", "))
	}
	if err := s.WaitReady(ctx, 30*time.Second); err != nil {
		return fmt.Errorf("the local stack is running but not ready (%w); check `make status` / `make logs`, or `make run`", err)
	}
	return nil
}

// Restore leaves the stack as `make run` would: the standard Mailpit, a
// stock-consumer without fault point, every component running and ready.
// It is called after every scenario, also when the scenario failed.
func (s *Stack) Restore(ctx context.Context) error {
	var errs []error
	s.mu.Lock()
	faulty, replaced := s.faulty, s.mailpitReplaced
	s.mu.Unlock()
	if faulty != 0 && s.runningPid("stock-consumer-1") == faulty {
		s.Logf("restore: stopping the stock-consumer started with a fault point (pid %d)", faulty)
		_, _ = s.Signal("stock-consumer-1", syscall.SIGTERM, 15*time.Second)
	}
	s.mu.Lock()
	s.faulty = 0
	s.mu.Unlock()
	if replaced {
		if err := s.RestoreMailpit(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	var infraDown []string
	for _, c := range s.Topology.Components() {
		if c.Infra && s.runningPid(c.Name) == 0 {
			infraDown = append(infraDown, c.Name)
		}
	}
	if len(infraDown) > 0 {
		s.Logf("restore: starting %s (supervisor, as make infra)", strings.Join(infraDown, ", "))
		if err := s.StartInfra(ctx, infraDown...); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range s.Topology.Components() {
		if c.Service != "" && s.runningPid(c.Name) == 0 {
			s.Logf("restore: starting %s", c.Name)
			if _, _, err := s.StartService(c.Name, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := s.WaitReady(ctx, 120*time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("STACK NOT RESTORED: %w", err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
