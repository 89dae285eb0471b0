// Package supervisor starts, adopts, checks and stops the local stack that
// pkg/localstack defines: Redis, MariaDB, Kafka (KRaft), Mailpit and nginx,
// then the service instances, all native processes on loopback with every
// file under .run/. tools/cmd/stack is its command line; the chaos suite
// calls it to bring stopped infrastructure back.
//
// Each component is left alone when its recorded pid is alive and ours,
// refused when a stranger holds its port, otherwise started in its own
// session with its output appended to .run/logs/<name>.log and waited for
// until it is ready.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// Config is what the supervisor needs from its caller.
type Config struct {
	// Paths locate the repository and .run/.
	Paths localstack.Paths
	// Topology is the shape of Kafka and Redis to start; zero means the one
	// recorded in .run/topology (the small one when none is).
	Topology localstack.Topology
	// ReadyTimeout bounds the wait for each component (FAREWELL_READY_TIMEOUT).
	ReadyTimeout time.Duration
	// KafkaVersion is the Kafka release resolved from Maven Central
	// (FAREWELL_KAFKA_VERSION); KafkaFallbackVersion is tried next.
	KafkaVersion string
	// Environ is the caller's environment, passed through to every daemon
	// (the services also get the environment file and their address).
	Environ []string
	// Out receives the progress lines, Err the warnings and log tails.
	Out, Err io.Writer
}

// Versions resolved when nothing else is asked for.
const (
	DefaultKafkaVersion    = "4.4.0"
	KafkaFallbackVersion   = "4.3.1"
	MailpitModule          = "github.com/axllent/mailpit"
	MailpitVersion         = "v1.33.1"
	MailpitFallbackVersion = "v1.27.11"
	DefaultReadyTimeout    = 90 * time.Second
)

// Supervisor drives one local stack.
type Supervisor struct {
	cfg  Config
	p    localstack.Paths
	topo localstack.Topology
}

// New returns a supervisor; zero fields of cfg get their defaults.
func New(cfg Config) *Supervisor {
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.KafkaVersion == "" {
		cfg.KafkaVersion = DefaultKafkaVersion
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Err == nil {
		cfg.Err = cfg.Out
	}
	// Background steps print too: one lock keeps every line whole.
	var mu sync.Mutex
	cfg.Out, cfg.Err = &lockedWriter{mu: &mu, w: cfg.Out}, &lockedWriter{mu: &mu, w: cfg.Err}
	topo := cfg.Topology
	if topo.Name == "" {
		recorded, err := localstack.RecordedTopology(cfg.Paths)
		if err != nil {
			recorded = localstack.Small
		}
		topo = recorded
	}
	return &Supervisor{cfg: cfg, p: cfg.Paths, topo: topo}
}

// Topology is the topology this supervisor drives.
func (s *Supervisor) Topology() localstack.Topology { return s.topo }

// Prepare creates the directories under .run/.
func (s *Supervisor) Prepare() error {
	for _, dir := range []string{s.p.Logs, s.p.Pids, s.p.Bin} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// Up starts the infrastructure, builds and starts the services, and prints
// the URLs.
func (s *Supervisor) Up(ctx context.Context) error {
	start := time.Now()
	return s.scoped(ctx, func(ctx context.Context, bg *background) error {
		if err := s.infraUp(ctx, bg, true); err != nil {
			return err
		}
		if err := s.servicesUp(ctx, bg); err != nil {
			return err
		}
		s.printURLs()
		s.infof("done in %s", since(start))
		return nil
	})
}

// Infra starts only the infrastructure (with the topics) and prints the URLs.
func (s *Supervisor) Infra(ctx context.Context) error {
	start := time.Now()
	return s.scoped(ctx, func(ctx context.Context, bg *background) error {
		if err := s.infraUp(ctx, bg, false); err != nil {
			return err
		}
		s.printURLs()
		s.infof("done in %s", since(start))
		return nil
	})
}

// EnsureInfra starts whatever infrastructure is down (with the topics) and
// waits until it is ready, without the URL summary.
func (s *Supervisor) EnsureInfra(ctx context.Context) error {
	return s.scoped(ctx, func(ctx context.Context, bg *background) error { return s.infraUp(ctx, bg, false) })
}

// Services builds and starts the services; the infrastructure must be up.
func (s *Supervisor) Services(ctx context.Context) error {
	return s.scoped(ctx, func(ctx context.Context, bg *background) error {
		if err := s.servicesUp(ctx, bg); err != nil {
			return err
		}
		s.printURLs()
		return nil
	})
}

// Restart stops the services, rebuilds and starts them; the infrastructure
// keeps running.
func (s *Supervisor) Restart(ctx context.Context) error {
	return s.scoped(ctx, func(ctx context.Context, bg *background) error {
		// The running instances keep their files while the new build runs
		// (services.go builds next to them and renames).
		start(ctx, bg, &bg.build, s.buildServices)
		s.infof("stopping services:")
		s.stopServices()
		if err := s.servicesUp(ctx, bg); err != nil {
			return err
		}
		s.printURLs()
		return nil
	})
}

// Down stops exactly the processes recorded in .run/pids, services first.
func (s *Supervisor) Down() error {
	s.infof("stopping:")
	s.stopServices()
	infra := s.topo.Infrastructure()
	for i := len(infra) - 1; i >= 0; i-- {
		s.stopComponent(infra[i])
	}
	s.infof("stopped (data kept in %s; delete it for a clean slate)", s.p.Run)
	return nil
}

// Tools installs the tools only the test suite needs (promtool, chromium, CJK fonts).
func (s *Supervisor) Tools(ctx context.Context) error {
	return s.ensurePrerequisites(ctx, testPrerequisites)
}

// infraUp starts whatever infrastructure is down. After the OS packages are
// in place it starts the jar download and the Mailpit build (and, with
// withBuild, the service builds) in bg, and waits for each where it is needed.
func (s *Supervisor) infraUp(ctx context.Context, bg *background, withBuild bool) error {
	s.infof("infrastructure (topology %s):", s.topo.Name)
	if err := s.adoptTopology(); err != nil {
		return err
	}
	s.sayMemory()
	if err := s.ensurePrerequisites(ctx, stackPrerequisites); err != nil {
		return err
	}
	if err := s.checkGoAndJava(ctx); err != nil {
		return err
	}
	created, err := localstack.EnsureEnvFile(s.p.EnvFile)
	if err != nil {
		return fmt.Errorf("environment file: %w", err)
	}
	if created {
		s.infof("  generated %s", s.p.EnvFile)
	}
	if err := localstack.SetEnv(s.p.EnvFile, s.topo.Env()); err != nil {
		return fmt.Errorf("environment file: %w", err)
	}
	start(ctx, bg, &bg.jars, noValue(s.resolveKafka))
	start(ctx, bg, &bg.mail, noValue(s.installMailpit))
	if withBuild {
		start(ctx, bg, &bg.build, s.buildServices)
	}
	steps := []func(context.Context) error{
		s.ensureRedis, s.ensureMariaDB, s.bootstrapMariaDB,
		func(ctx context.Context) error { return s.ensureKafka(ctx, bg) },
		s.ensureTopics,
		func(ctx context.Context) error { return s.ensureMailpit(ctx, bg) },
		s.reloadNginxIfChanged, s.ensureNginx,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (s *Supervisor) printURLs() {
	s.infof("")
	s.infof("Farewell local stack is up:")
	s.infof("  public API     %s   (health: /nginx-health)", localstack.NginxURL)
	s.infof("  Mailpit UI     %s   (SMTP %s)", localstack.MailpitURL, localstack.SMTPAddr)
	if len(s.topo.SentinelPorts) > 0 {
		s.infof("  Redis through Sentinel %s (master %q)", strings.Join(s.topo.SentinelAddrs(), ","), s.topo.SentinelMaster)
	} else {
		s.infof("  Redis %s", s.topo.Redis[0].Addr())
	}
	s.infof("  MariaDB 127.0.0.1:%d (farewell/farewell) · Kafka %s (replication %d)", localstack.MariaDBPort, strings.Join(s.topo.KafkaAddrs(), ","), s.topo.Replication)
	for _, c := range localstack.Instances() {
		if s.p.RunningPid(c) == 0 {
			continue
		}
		s.infof("  metrics        http://%s/metrics   (%s)", c.Addr(), c.Name)
	}
	s.infof("  environment    %s   logs %s/   stop: make stop", s.p.EnvFile, s.p.Logs)
}

// ---------------------------------------------------------------- output

// lockedWriter serialises the writes of several goroutines to one writer.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (s *Supervisor) infof(format string, args ...any) {
	fmt.Fprintf(s.cfg.Out, format+"\n", args...)
}

func (s *Supervisor) warnf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Err, "WARN  "+format+"\n", args...)
}

// readyLine prints "  NAME   ready in  1.2s  DETAIL".
func (s *Supervisor) readyLine(name string, start time.Time, detail string) {
	fmt.Fprintf(s.cfg.Out, "  %-20s ready in %6s  %s\n", name, since(start), detail)
}

// since formats the time since start as "1.2s".
func since(start time.Time) string {
	ms := time.Since(start).Milliseconds()
	return fmt.Sprintf("%d.%ds", ms/1000, ms%1000/100)
}

// showLogTail prints the last 20 lines of a log to the error output.
func (s *Supervisor) showLogTail(path string) {
	fmt.Fprintf(s.cfg.Err, "  ---- last 20 lines of %s ----\n", path)
	for _, line := range lastLines(path, 20) {
		fmt.Fprintf(s.cfg.Err, "  | %s\n", line)
	}
	fmt.Fprintf(s.cfg.Err, "  ---- full log: %s\n", path)
}

// lastLines returns up to n last lines of the file at path.
func lastLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	// The end of the file is enough: 64 KiB hold far more than n lines.
	const window = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		_, _ = f.Seek(-window, io.SeekEnd)
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// errWithLog prints the end of log and returns err.
func (s *Supervisor) errWithLog(log string, err error) error {
	s.showLogTail(log)
	return err
}

// ErrInfraDown is returned by Services when the infrastructure is not up.
var ErrInfraDown = errors.New("infrastructure is not up: run 'make infra' (or 'make run') first")
