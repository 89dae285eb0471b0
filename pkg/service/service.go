// Package service is the runtime every Farewell binary runs in. From the
// common settings it builds the JSON logger, the Prometheus registry and the
// HTTP server with /healthz, /readyz and /metrics; it connects the shared
// clients (Redis, Kafka producers and consumer groups) with bounded retries
// at start-up; it runs the registered components until SIGINT or SIGTERM,
// and then shuts them down in order:
//
//  1. readiness fails at once; HTTP keeps serving for the drain delay
//     (FAREWELL_DRAIN_DELAY), then intake stops and in-flight requests drain;
//  2. consumer groups and background tasks stop (groups commit marked offsets);
//  3. resources registered with OnStop close (SMTP senders, …);
//  4. producers flush and close, so every acknowledged message is sent;
//  5. clients close (Redis, MySQL).
//
// The whole shutdown is bounded by the configured shutdown timeout.
//
// A service's main loads its configuration, calls New, builds its adapters
// and handlers, registers them (routes on Engine, consumer groups, readiness
// checks, background tasks) and calls Run.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/observability"
	"github.com/terning-farewell/farewell/pkg/redisx"
)

// Options are the few things a service adds to the common settings.
type Options struct {
	// MaxBodyBytes caps request bodies; zero keeps the server default (16 KiB).
	MaxBodyBytes int64
	// TrustedProxies are the peers whose X-Forwarded-For names the client in
	// the HTTP server's logs and limits; empty trusts nobody.
	TrustedProxies []string
	// LogOutput receives the JSON log, unbuffered; nil means standard
	// output, through an observability.LogBuffer that Run and Close flush.
	LogOutput io.Writer
	// RedisBufferBytes sizes the read and write buffer of each Redis
	// connection (redisx.Config.BufferBytes); zero keeps go-redis's 32 KiB.
	RedisBufferBytes int
}

// component is something that runs until its context ends.
type component struct {
	name string
	run  func(ctx context.Context) error
}

// closer is something closed once during shutdown.
type closer struct {
	name  string
	close func() error
}

// Runtime owns a service's process-wide parts and their lifecycle.
type Runtime struct {
	cfg    config.Common
	log    *slog.Logger
	reg    *prometheus.Registry
	server *httpserver.Server
	// logBuf buffers the log on its way to standard output; nil when the
	// caller chose the log's writer.
	logBuf *observability.LogBuffer
	// redisBufferBytes is Options.RedisBufferBytes.
	redisBufferBytes int

	// ctx ends on SIGINT, SIGTERM or when the caller's context ends. It is
	// kept because the runtime is the owner of the process lifecycle: New
	// starts it and Run ends it.
	ctx         context.Context
	stopSignals context.CancelFunc
	// startCtx is ctx bounded by the start-up timeout; it ends when Run starts.
	startCtx   context.Context
	endStartup context.CancelFunc

	intake    []component
	workers   []component
	stoppers  []closer
	producers []closer
	clients   []closer
	closing   atomic.Bool
}

// New builds the runtime for cfg: logger, registry, HTTP server (routes are
// added on Engine before Run) and a context that ends on SIGINT or SIGTERM.
// Nothing listens or connects yet.
func New(ctx context.Context, cfg config.Common, opts Options) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	out := opts.LogOutput
	var logBuf *observability.LogBuffer
	if out == nil {
		logBuf = observability.NewLogBuffer(os.Stdout, 64<<10, observability.DefaultLogFlush)
		out = logBuf
	}
	log, err := observability.NewLogger(out, cfg.LogLevel, cfg.Service, cfg.Instance)
	if err != nil {
		if logBuf != nil {
			_ = logBuf.Close()
		}
		return nil, fmt.Errorf("service: %w", err)
	}
	reg := observability.NewRegistry()
	httpCfg := httpserver.DefaultConfig(cfg.HTTPAddr)
	httpCfg.ShutdownTimeout = cfg.ShutdownTimeout
	httpCfg.DrainDelay = cfg.DrainDelay
	if opts.MaxBodyBytes > 0 {
		httpCfg.MaxBodyBytes = opts.MaxBodyBytes
	}
	httpCfg.TrustedProxies = opts.TrustedProxies
	srv, err := httpserver.New(httpCfg, log, reg, nil)
	if err != nil {
		if logBuf != nil {
			_ = logBuf.Close()
		}
		return nil, fmt.Errorf("service: %w", err)
	}
	httpserver.MountPprof(srv.Engine(), cfg.EnablePprof)

	sigCtx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	startCtx, endStartup := context.WithTimeout(sigCtx, cfg.StartupTimeout)
	r := &Runtime{
		cfg: cfg, log: log, reg: reg, server: srv, logBuf: logBuf, redisBufferBytes: opts.RedisBufferBytes,
		ctx: sigCtx, stopSignals: stopSignals,
		startCtx: startCtx, endStartup: endStartup,
	}
	r.intake = []component{{name: "http server", run: srv.Run}}
	return r, nil
}

// Log returns the service's logger.
func (r *Runtime) Log() *slog.Logger { return r.log }

// Registry returns the Prometheus registry served on /metrics.
func (r *Runtime) Registry() *prometheus.Registry { return r.reg }

// Engine returns the gin engine to register the service's routes on.
func (r *Runtime) Engine() *gin.Engine { return r.server.Engine() }

// Handler returns the HTTP handler with every route, for tests.
func (r *Runtime) Handler() http.Handler { return r.server.Handler() }

// StartupContext returns the context for one-shot start-up work (migrations,
// state rebuilds): it ends at the start-up deadline, on a signal, or when Run
// starts.
func (r *Runtime) StartupContext() context.Context { return r.startCtx }

// Ready adds a readiness check: /readyz answers 200 only while every check
// answers.
func (r *Runtime) Ready(name string, ping func(ctx context.Context) error) {
	r.server.AddCheck(httpserver.Check{Name: name, Ping: ping})
}

// Go runs a background task from Run until shutdown; it stops together with
// the consumer groups, after HTTP intake. run must return when ctx ends.
func (r *Runtime) Go(name string, run func(ctx context.Context) error) {
	r.workers = append(r.workers, component{name: name, run: run})
}

// OnStop closes a resource after the consumer groups and background tasks
// stopped and before the producers flush. Resources close in reverse order.
func (r *Runtime) OnStop(name string, close func() error) {
	r.stoppers = append(r.stoppers, closer{name: name, close: close})
}

// AddClient registers a connected client: ping becomes a readiness check and
// close runs last in shutdown, after the producers. Clients close in reverse
// order.
func (r *Runtime) AddClient(name string, ping func(ctx context.Context) error, close func() error) {
	r.Ready(name, ping)
	r.clients = append(r.clients, closer{name: name, close: close})
}

// Redis connects to the configured Redis (directly, or through Sentinel
// when FAREWELL_REDIS_SENTINELS is set), waiting for it up to the start-up
// deadline, and registers it as the "redis" client.
func (r *Runtime) Redis() (*redis.Client, error) {
	rdb := redisx.NewClient(redisx.Config{Addr: r.cfg.RedisAddr, Sentinels: r.cfg.RedisSentinels,
		MasterName: r.cfg.RedisMaster, Password: r.cfg.RedisPassword, PoolSize: r.cfg.RedisPoolSize,
		BufferBytes: r.redisBufferBytes})
	ping := func(ctx context.Context) error { return redisx.Ping(ctx, rdb) }
	if err := Retry(r.startCtx, r.log, "redis", ping); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	r.AddClient("redis", ping, rdb.Close)
	return rdb, nil
}

// Producer connects a Kafka producer, waiting for the brokers up to the
// start-up deadline. Empty Brokers and ClientID take the configured brokers
// and the instance name. It is flushed and closed in shutdown after the
// consumers stopped; it is not a readiness check unless Ready adds one.
func (r *Runtime) Producer(cfg kafka.ProducerConfig) (*kafka.Producer, error) {
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = r.cfg.KafkaBrokers
	}
	if cfg.ClientID == "" {
		cfg.ClientID = r.cfg.Instance
	}
	p, err := Connect(r, "kafka producer "+cfg.ClientID, func(context.Context) (*kafka.Producer, error) {
		return kafka.NewProducer(cfg, r.log, r.reg)
	})
	if err != nil {
		return nil, err
	}
	r.producers = append(r.producers, closer{name: "kafka producer " + cfg.ClientID, close: p.Close})
	return p, nil
}

// Consume connects a consumer group, waiting for the brokers up to the
// start-up deadline, and runs it from Run until shutdown. Empty Brokers and
// ClientID take the configured brokers and the instance name. dlq receives
// poison messages. It is not a readiness check unless Ready adds one.
func (r *Runtime) Consume(cfg kafka.GroupConfig, h kafka.BatchHandler, dlq *kafka.Producer) (*kafka.Group, error) {
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = r.cfg.KafkaBrokers
	}
	if cfg.ClientID == "" {
		cfg.ClientID = r.cfg.Instance
	}
	name := "kafka group " + cfg.GroupID
	g, err := Connect(r, name, func(context.Context) (*kafka.Group, error) {
		return kafka.NewGroup(cfg, h, dlq, r.log, r.reg)
	})
	if err != nil {
		return nil, err
	}
	r.workers = append(r.workers, component{name: name, run: g.Run})
	return g, nil
}

// Connect calls connect until it succeeds or the start-up deadline passes,
// as Retry does, and returns what it built.
func Connect[T any](r *Runtime, what string, connect func(ctx context.Context) (T, error)) (T, error) {
	var v T
	err := Retry(r.startCtx, r.log, what, func(ctx context.Context) error {
		var err error
		v, err = connect(ctx)
		return err
	})
	return v, err
}

// Run starts the HTTP server, the consumer groups and the background tasks
// and waits for SIGINT, SIGTERM, the end of the context given to New, or the
// first component that fails or stops on its own. It then shuts down in
// order (see the package documentation) within the shutdown timeout and
// returns what failed, or nil.
func (r *Runtime) Run() error {
	// The last deferred call: every line logged up to the return is written.
	defer r.flushLog()
	r.endStartup()
	runCtx, stopRun := context.WithCancelCause(r.ctx)
	defer stopRun(nil)
	// Each stage has its own context so that stopping one does not stop the next.
	intakeCtx, stopIntake := context.WithCancel(context.WithoutCancel(r.ctx))
	defer stopIntake()
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(r.ctx))
	defer stopWork()

	var intake, work errgroup.Group
	start(&work, workCtx, stopRun, r.workers)
	start(&intake, intakeCtx, stopRun, r.intake)
	r.log.Info(r.cfg.Service+" started", "addr", r.cfg.HTTPAddr, "components", names(r.intake, r.workers))

	<-runCtx.Done()
	if r.ctx.Err() != nil {
		r.log.Info("shutting down: stop requested")
	} else {
		r.log.Error("shutting down: a component failed", "err", context.Cause(runCtx))
	}

	// The shutdown runs in its own goroutine so that a stage that hangs
	// cannot hold the process past the deadline; when the deadline passes,
	// Run returns and the process exits, and Kafka redelivers whatever was
	// not marked.
	// Marked before the stages stop, so a deferred Close in main cannot
	// close producers under consumers that are still finishing.
	r.closing.Store(true)
	done := make(chan error, 1)
	go func() {
		stopIntake()
		intakeErr := intake.Wait()
		stopWork()
		workErr := work.Wait()
		done <- errors.Join(intakeErr, workErr, r.closeAll())
	}()
	// The drain delay (HTTP still served, readiness failing) comes first.
	deadline := time.NewTimer(r.cfg.DrainDelay + r.cfg.ShutdownTimeout)
	defer deadline.Stop()
	select {
	case err := <-done:
		r.log.Info(r.cfg.Service + " stopped")
		return err
	case <-deadline.C:
		r.log.Error("shutdown deadline passed", "drain_delay", r.cfg.DrainDelay.String(), "timeout", r.cfg.ShutdownTimeout.String())
		return fmt.Errorf("shutdown did not finish within %s after the %s drain delay", r.cfg.ShutdownTimeout, r.cfg.DrainDelay)
	}
}

// start runs each component in g. A component that fails, or returns before
// it was asked to stop, ends the run through fail.
func start(g *errgroup.Group, ctx context.Context, fail context.CancelCauseFunc, cs []component) {
	for _, c := range cs {
		g.Go(func() error {
			err := c.run(ctx)
			if err == nil && ctx.Err() == nil {
				err = errors.New("stopped on its own")
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", c.name, err)
				fail(err)
			}
			return err
		})
	}
}

// Close closes what OnStop, the producers and the clients registered, in
// that order, and stops listening for signals. Run calls it; a main calls it
// (deferred) to release what it connected when wiring fails before Run.
// Only the first call does anything.
func (r *Runtime) Close() error {
	if !r.closing.CompareAndSwap(false, true) {
		return nil
	}
	defer r.flushLog()
	return r.closeAll()
}

// flushLog writes out the buffered log and stops buffering, so that lines
// logged later (a main's last words) go straight to standard output.
func (r *Runtime) flushLog() {
	if r.logBuf != nil {
		_ = r.logBuf.Close()
	}
}

func (r *Runtime) closeAll() error {
	defer r.stopSignals()
	r.endStartup()
	var errs []error
	for _, stage := range [][]closer{r.stoppers, r.producers, r.clients} {
		for i := len(stage) - 1; i >= 0; i-- {
			c := stage[i]
			if err := c.close(); err != nil {
				r.log.Warn("close failed", "resource", c.name, "err", err)
				errs = append(errs, fmt.Errorf("close %s: %w", c.name, err))
				continue
			}
			r.log.Info("closed", "resource", c.name)
		}
	}
	return errors.Join(errs...)
}

func names(groups ...[]component) string {
	var out []string
	for _, g := range groups {
		for _, c := range g {
			out = append(out, c.name)
		}
	}
	return strings.Join(out, ", ")
}
