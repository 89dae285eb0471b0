// Command auth issues email verification codes and exchanges a correct code
// for a participant token (JWT). It publishes code requests to Kafka for the
// notifier and keeps codes, attempts and limits in Redis.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sync/errgroup"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/observability"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/token"
	"github.com/terning-farewell/farewell/services/auth/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/auth/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/auth/internal/codes"
	"github.com/terning-farewell/farewell/services/auth/internal/config"
	"github.com/terning-farewell/farewell/services/auth/internal/ports/httpapi"
	"github.com/terning-farewell/farewell/services/auth/internal/verification"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "auth:", err)
		os.Exit(1)
	}
}

// realMain wires the service and runs it until ctx ends. Shutdown order:
// stop HTTP intake and drain requests, then flush the producer, then close Redis.
func realMain(ctx context.Context) (err error) {
	cfg, err := config.Load(pkgconfig.FromEnviron())
	if err != nil {
		return err
	}
	log, err := observability.NewLogger(os.Stdout, cfg.Common.LogLevel, cfg.Common.Service, cfg.Common.Instance)
	if err != nil {
		return err
	}
	reg := observability.NewRegistry()

	rdb := redisx.NewClient(redisx.Config{Addr: cfg.Common.RedisAddr, Password: cfg.Common.RedisPassword, PoolSize: cfg.Common.RedisPoolSize})
	defer func() { err = errors.Join(err, closeWith("redis", rdb.Close)) }()
	codeStore, err := redisstore.New(ctx, rdb, redisstore.Limits{
		CodeTTL:        cfg.Codes.TTL,
		ResendCooldown: cfg.Codes.ResendCooldown,
		HourlyLimit:    cfg.Codes.HourlyLimit,
		MaxAttempts:    cfg.Codes.MaxAttempts,
		IPRequestLimit: cfg.Codes.IPRequestLimit,
		IPVerifyLimit:  cfg.Codes.IPVerifyLimit,
		IPWindow:       cfg.Codes.IPWindow,
	})
	if err != nil {
		return err
	}

	producer, err := kafka.NewProducer(kafka.ProducerConfig{
		Brokers: cfg.Common.KafkaBrokers, ClientID: cfg.Common.Instance, Linger: cfg.KafkaLinger, Retries: 3,
	}, log, reg)
	if err != nil {
		return err
	}
	// Deferred after Redis, so it runs first: the producer is flushed
	// before the store goes away.
	defer func() { err = errors.Join(err, closeWith("kafka producer", producer.Close)) }()

	codec, err := token.New(cfg.Token)
	if err != nil {
		return err
	}
	hasher, err := codes.NewHasher(cfg.Codes.Secret)
	if err != nil {
		return err
	}
	svc, err := verification.New(codeStore, kafkapub.New(producer, cfg.CodesTopic), codec, hasher, verification.Settings{
		CodeTTL:        cfg.Codes.TTL,
		ResendCooldown: cfg.Codes.ResendCooldown,
		MaxAttempts:    cfg.Codes.MaxAttempts,
		PublishTimeout: cfg.PublishTimeout,
	}, log, reg)
	if err != nil {
		return err
	}

	srv, err := httpserver.New(cfg.HTTP, log, reg, []httpserver.Check{
		{Name: "redis", Ping: func(ctx context.Context) error { return redisx.Ping(ctx, rdb) }},
		{Name: "kafka", Ping: producer.Ping},
	})
	if err != nil {
		return err
	}
	if err := httpapi.Mount(srv.Engine(), svc, log, cfg.TrustedProxies); err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	log.Info("auth started", "addr", cfg.HTTP.Addr, "codes_topic", cfg.CodesTopic)
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("auth stopped")
	return nil
}

func closeWith(what string, close func() error) error {
	if err := close(); err != nil {
		return fmt.Errorf("close %s: %w", what, err)
	}
	return nil
}
