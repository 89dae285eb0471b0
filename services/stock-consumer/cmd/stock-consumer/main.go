// Command stock-consumer decides applications: it consumes
// farewell.event.applications in batches, decides them atomically in Redis,
// persists them in MySQL and publishes the decisions. It also persists admin
// changes from farewell.event.admin.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/observability"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/mysqlstore"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/redisstore"
	scconfig "github.com/terning-farewell/farewell/services/stock-consumer/internal/config"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/ports/consumer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "stock-consumer:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	cfg, err := scconfig.Load(config.FromEnviron())
	if err != nil {
		return err
	}
	log, err := observability.NewLogger(os.Stdout, cfg.LogLevel, cfg.Service, cfg.Instance)
	if err != nil {
		return err
	}
	reg := observability.NewRegistry()

	rdb := redisx.NewClient(redisx.Config{Addr: cfg.RedisAddr, Password: cfg.RedisPassword, PoolSize: cfg.RedisPoolSize})
	defer rdb.Close()
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var decider *redisstore.Decider
	if err := retry(startCtx, log, "redis", func() (err error) {
		decider, err = redisstore.NewDecider(startCtx, rdb)
		return err
	}); err != nil {
		return err
	}
	var repo *mysqlstore.Repository
	if err := retry(startCtx, log, "mysql", func() (err error) {
		repo, err = mysqlstore.OpenRepository(startCtx, cfg.MySQLDSN, cfg.MySQLMaxOpenConns)
		return err
	}); err != nil {
		return err
	}
	defer repo.Close()
	if err := repo.Migrate(startCtx, log); err != nil {
		return err
	}

	producer, err := kafka.NewProducer(kafka.ProducerConfig{
		Brokers: cfg.KafkaBrokers, ClientID: cfg.Instance, Linger: 2 * time.Millisecond, MaxBatch: 1000, Retries: 10,
	}, log, reg)
	if err != nil {
		return err
	}
	defer producer.Close()

	decisions, err := decision.NewService(decider, repo, kafkapub.New(producer, cfg.DecisionsTopic), decision.Options{
		Fault: faultHook(cfg.FaultPoint, log),
	}, log, reg)
	if err != nil {
		return err
	}
	handler, err := consumer.NewHandler(decisions, cfg.AdminTopic)
	if err != nil {
		return err
	}
	// Redis may have lost the event while we were down: rebuild before consuming.
	if err := decisions.EnsureState(startCtx, cfg.EventID); err != nil {
		return err
	}
	group, err := kafka.NewGroup(kafka.GroupConfig{
		Brokers: cfg.KafkaBrokers, GroupID: cfg.GroupID, ClientID: cfg.Instance,
		Topics: []string{cfg.ApplicationsTopic, cfg.AdminTopic}, MaxBatch: cfg.MaxBatch, MaxAttempts: cfg.MaxAttempts,
	}, handler, producer, log, reg)
	if err != nil {
		return err
	}

	srv, err := httpserver.New(httpserver.DefaultConfig(cfg.HTTPAddr), log, reg, []httpserver.Check{
		{Name: "redis", Ping: func(ctx context.Context) error { return redisx.Ping(ctx, rdb) }},
		{Name: "mysql", Ping: func(ctx context.Context) error { return repo.Ping(ctx) }},
		{Name: "kafka", Ping: group.Ping},
	})
	if err != nil {
		return err
	}
	httpserver.MountPprof(srv.Engine(), cfg.EnablePprof)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return group.Run(gctx) })
	g.Go(func() error { return decisions.WatchState(gctx, cfg.EventID, time.Second, cfg.StrandedAfter) })
	log.Info("stock-consumer started", "group", cfg.GroupID, "topics", []string{cfg.ApplicationsTopic, cfg.AdminTopic})
	err = g.Wait()
	log.Info("stock-consumer stopped")
	return err
}

// retry calls connect until it succeeds or ctx ends, so the consumer can
// start before its dependencies are up.
func retry(ctx context.Context, log *slog.Logger, what string, connect func() error) error {
	for {
		err := connect()
		if err == nil {
			return nil
		}
		log.Warn("waiting for dependency", "dependency", what, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not available: %w", what, err)
		case <-time.After(time.Second):
		}
	}
}

// faultHook returns the test-only crash hook for FAREWELL_FAULT_POINT.
func faultHook(point string, log *slog.Logger) func(decision.FaultPoint) {
	if point == "" {
		return nil
	}
	return func(p decision.FaultPoint) {
		if string(p) == point {
			log.Error("fault injected: exiting", "point", point)
			os.Exit(3)
		}
	}
}
