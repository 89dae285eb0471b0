// Command stack supervises the local stack: real Redis, MariaDB, Kafka
// (KRaft), Mailpit and nginx, then the four services, all run natively on
// loopback with every file under .run/ at the repository root. The make
// targets run, infra, restart, stop, status and logs call it.
//
// Usage:
//
//	stack up         infra, then build and start the services (idempotent)
//	stack infra      redis, mariadb, kafka, topics, mailpit, nginx only
//	stack services   build and start the services (infra must be up)
//	stack restart    rebuild and restart only the services (infra keeps running)
//	stack down       stop exactly the processes the stack recorded (services first); also: stop
//	stack status     one line per component: name, pid, port, state
//	stack logs [N]   last 50 lines of every log, or follow the logs of N (e.g. kafka, auth)
//	stack tools      install the tools only the tests need (promtool, chromium, CJK fonts)
//
// up and infra take -topology small|ha (default small): "ha" runs three
// Kafka nodes (replication 3, min.insync.replicas 2) and a Redis primary
// with one replica and three Sentinels (pkg/localstack.HA). The topology
// is recorded in .run/topology; every other command, the chaos suite and
// the tests follow the recorded one.
//
// Ports are fixed (DESIGN.md, pkg/localstack): nginx 8080, Redis 6379,
// MariaDB 3306, Kafka 9092 (controller 9093), Mailpit SMTP 1025 / UI 8025,
// services 8081-8088. Environment: FAREWELL_READY_TIMEOUT (seconds, default
// 90), FAREWELL_KAFKA_VERSION (default 4.4.0, falling back to 4.3.1).
//
// Commands that start or stop components hold the stack lock
// (.run/stack.lock) while they run, so they never overlap each other, a
// load run, a chaos run or the end-to-end tests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
	"github.com/terning-farewell/farewell/tools/internal/supervisor"
)

const usage = `usage: stack COMMAND
  up         infra, then build and start the services (idempotent)
  infra      redis, mariadb, kafka, topics, mailpit, nginx only
  services   build and start the services (infra must be up)
  restart    rebuild and restart only the services (infra keeps running)
  down|stop  stop exactly the processes the stack recorded (services first)
  status     one line per component: name, pid, port, state
  logs [N]   last 50 lines of every log, or follow the logs of N (e.g. kafka, auth)
  tools      install the tools only the tests need (promtool, chromium, CJK fonts)
up and infra take -topology small|ha (default small); the others follow .run/topology
environment: FAREWELL_READY_TIMEOUT (s, default 90), FAREWELL_KAFKA_VERSION (default 4.4.0)
`

// lockWait bounds the wait for another holder of the stack lock.
const lockWait = 10 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var usageErr usageError
	switch {
	case errors.As(err, &usageErr):
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "ERROR %v\n", err)
		os.Exit(1)
	}
}

// topologyOf returns the topology asked for with -topology by up and infra
// (small when not asked), and the zero topology (the recorded one) for the
// other commands.
func topologyOf(cmd string, args []string) (localstack.Topology, error) {
	if cmd != "up" && cmd != "infra" {
		return localstack.Topology{}, nil
	}
	fs := flag.NewFlagSet("stack "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("topology", "small", "small or ha")
	if err := fs.Parse(args); err != nil {
		return localstack.Topology{}, usageError{}
	}
	return localstack.TopologyNamed(*name)
}

type usageError struct{}

func (usageError) Error() string { return "usage" }

// config is the command's settings from its environment.
type config struct {
	readyTimeout time.Duration
	kafkaVersion string
}

func loadConfig() (config, error) {
	cfg := config{readyTimeout: supervisor.DefaultReadyTimeout, kafkaVersion: supervisor.DefaultKafkaVersion}
	if v := strings.TrimSpace(os.Getenv("FAREWELL_READY_TIMEOUT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return config{}, fmt.Errorf("FAREWELL_READY_TIMEOUT=%q: want a number of seconds", v)
		}
		cfg.readyTimeout = time.Duration(n) * time.Second
	}
	if v := strings.TrimSpace(os.Getenv("FAREWELL_KAFKA_VERSION")); v != "" {
		cfg.kafkaVersion = v
	}
	// Read where it is used (the supervisor); checked here so that a bad
	// value stops `make run` before anything starts.
	if _, err := localstack.ParseBackgroundNice(os.Getenv("FAREWELL_BACKGROUND_NICE")); err != nil {
		return config{}, err
	}
	return cfg, nil
}

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{}
	}
	cmd, rest := args[0], args[1:]
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := localstack.FindRoot(wd)
	if err != nil {
		return err
	}
	paths := localstack.NewPaths(root)
	topo, err := topologyOf(cmd, rest)
	if err != nil {
		return err
	}
	sv := supervisor.New(supervisor.Config{
		Paths:        paths,
		Topology:     topo,
		ReadyTimeout: cfg.readyTimeout,
		KafkaVersion: cfg.kafkaVersion,
		Environ:      os.Environ(),
		Out:          stdout,
		Err:          stderr,
	})

	switch cmd {
	case "status":
		return sv.Status(ctx)
	case "logs":
		name := ""
		if len(rest) > 0 {
			name = rest[0]
		}
		return sv.Logs(name)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}

	run, ok := map[string]func(context.Context) error{
		"up":       sv.Up,
		"infra":    sv.Infra,
		"services": sv.Services,
		"restart":  sv.Restart,
		"down":     func(context.Context) error { return sv.Down() },
		"stop":     func(context.Context) error { return sv.Down() },
		"tools":    sv.Tools,
	}[cmd]
	if !ok {
		return usageError{}
	}
	if err := sv.Prepare(); err != nil {
		return err
	}
	lock, err := localstack.AcquireLock(ctx, paths.Lock, lockWait, "stack "+cmd, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Release() }()
	return run(ctx)
}
