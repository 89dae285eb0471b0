// Command stock-consumer decides applications: it consumes
// farewell.event.applications in batches, decides them atomically in Redis,
// persists them in MySQL and publishes the decisions. It also persists admin
// changes from farewell.event.admin.
//
// `stock-consumer replay` is the operators' tool for the dead-letter topics
// (package internal/ports/replay): it lists them and re-publishes selected
// messages. It ships in the same image, so it runs where the service runs.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gorm.io/gorm"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/mysqlx"
	"github.com/terning-farewell/farewell/pkg/service"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/mysqlstore"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/config"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/ports/consumer"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/ports/replay"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "replay" {
		if err := runReplay(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "stock-consumer replay:", err)
			if errors.Is(err, replay.ErrUsage) {
				os.Exit(2)
			}
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stock-consumer:", err)
		os.Exit(1)
	}
}

// runReplay wires the replay subcommand: flags, a logger, interrupts.
func runReplay(args []string) error {
	opts, err := replay.ParseArgs(args, pkgconfig.FromEnviron(), os.Stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return replay.Run(ctx, opts, os.Stdout, log)
}

// run wires the service; the runtime runs it until SIGINT or SIGTERM and
// shuts it down in order: the consumer group and the state watcher, then
// the producer, then MySQL and Redis.
func run() error {
	cfg, err := config.Load(pkgconfig.FromEnviron())
	if err != nil {
		return err
	}
	rt, err := service.New(context.Background(), cfg.Common, service.Options{})
	if err != nil {
		return err
	}
	defer rt.Close()
	log := rt.Log()

	rdb, err := rt.Redis()
	if err != nil {
		return err
	}
	decider, err := service.Connect(rt, "redis scripts", func(ctx context.Context) (*redisstore.Decider, error) {
		return redisstore.NewDecider(ctx, rdb)
	})
	if err != nil {
		return err
	}
	db, err := service.Connect(rt, "mysql", func(ctx context.Context) (*gorm.DB, error) {
		return mysqlx.Open(ctx, mysqlx.Config{DSN: cfg.MySQLDSN, MaxOpenConns: cfg.MySQLMaxOpenConns, MaxIdleConns: cfg.MySQLMaxOpenConns})
	})
	if err != nil {
		return err
	}
	rt.AddClient("mysql", func(ctx context.Context) error { return mysqlx.Ping(ctx, db) }, func() error { return mysqlx.Close(db) })
	repo := mysqlstore.NewRepository(db)
	if err := repo.Migrate(rt.StartupContext(), log); err != nil {
		return err
	}
	producer, err := rt.Producer(kafka.ProducerConfig{Linger: 2 * time.Millisecond, MaxBatch: 1000, Retries: 10})
	if err != nil {
		return err
	}

	// The group needs the handler and the handler the service, so the
	// service asks the group for its assignment through this variable, set
	// below before the state watcher starts.
	var group *kafka.Group
	owns := func() bool { return group.Owns(cfg.ApplicationsTopic) }
	logCopy, err := service.Connect(rt, "redis log script", func(ctx context.Context) (*redisstore.LogCopy, error) {
		return redisstore.NewLogCopy(ctx, rdb)
	})
	if err != nil {
		return err
	}
	publisher, err := decision.NewLogPublisher(repo, logCopy, log)
	if err != nil {
		return err
	}
	decisions, err := decision.NewService(decider, repo, kafkapub.New(producer, cfg.DecisionsTopic), decision.Options{
		Fault: faultHook(cfg.FaultPoint, log), OwnsPartitions: owns,
		Participant: func(eventID, email string) string { return fairlog.Participant(cfg.ParticipantSalt, eventID, email) },
		// The copy runs beside the batches (the publisher's goroutine below),
		// so a batch never waits for it.
		AfterPersist: publisher.Offer,
	}, log, rt.Registry())
	if err != nil {
		return err
	}
	handler, err := consumer.NewHandler(decisions, cfg.AdminTopic)
	if err != nil {
		return err
	}
	// No rebuild at start-up: only a replica with partitions of the
	// applications topic rebuilds (its watcher, within a second of the
	// assignment, or its first batch), fenced by the epoch in MySQL.
	topics := []string{cfg.ApplicationsTopic, cfg.AdminTopic}
	group, err = rt.Consume(kafka.GroupConfig{GroupID: cfg.GroupID, Topics: topics, MaxBatch: cfg.MaxBatch, MaxAttempts: cfg.MaxAttempts}, handler, producer)
	if err != nil {
		return err
	}
	rt.Ready("kafka", group.Ping)
	rt.Go("state watcher", func(ctx context.Context) error {
		return decisions.WatchState(ctx, cfg.Common.EventID, time.Second, cfg.StrandedAfter)
	})

	rt.Go("decision log publisher", func(ctx context.Context) error {
		return publisher.Run(ctx, cfg.Common.EventID, time.Second, cfg.LogFreezeAfter)
	})

	log.Info("stock-consumer wired", "group", cfg.GroupID, "topics", topics)
	return rt.Run()
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
