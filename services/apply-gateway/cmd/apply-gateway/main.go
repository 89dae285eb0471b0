// Command apply-gateway admits applications: it verifies the participant's
// token, admits the application in one Redis round trip, publishes it to
// Kafka and answers 202 once the broker acknowledged it. It also serves
// status and the admin API.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/observability"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/token"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admin"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
	gwconfig "github.com/terning-farewell/farewell/services/apply-gateway/internal/config"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ports/httpapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "apply-gateway:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	cfg, err := gwconfig.Load(config.FromEnviron())
	if err != nil {
		return err
	}
	log, err := observability.NewLogger(os.Stdout, cfg.LogLevel, cfg.Service, cfg.Instance)
	if err != nil {
		return err
	}
	reg := observability.NewRegistry()
	codec, err := token.New(cfg.Token)
	if err != nil {
		return err
	}

	rdb := redisx.NewClient(redisx.Config{Addr: cfg.RedisAddr, Password: cfg.RedisPassword, PoolSize: cfg.RedisPoolSize})
	defer rdb.Close()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := redisstore.NewRedis(startCtx, rdb, cfg.EventID)
	if err != nil {
		return err
	}
	producer, err := kafka.NewProducer(kafka.ProducerConfig{
		Brokers: cfg.KafkaBrokers, ClientID: cfg.Instance, Linger: cfg.KafkaLinger, MaxBatch: 1000, Retries: 3,
	}, log, reg)
	if err != nil {
		return err
	}
	// Closed after the HTTP server stopped, so in-flight applies get their ack.
	defer producer.Close()

	brk := kafkapub.New(producer, cfg.EventID, cfg.Instance, cfg.ApplicationsTopic, cfg.AdminTopic)
	applier, err := admission.NewService(admission.Config{
		EventID: cfg.EventID, Grace: cfg.AdmissionGrace, PublishTimeout: cfg.PublishTimeout, MaxInFlight: cfg.MaxInFlight,
	}, st, brk, uuid.NewString)
	if err != nil {
		return err
	}
	metrics, err := admission.NewMetrics(reg)
	if err != nil {
		return err
	}
	admins := admin.NewService(admin.Config{PublishTimeout: cfg.PublishTimeout}, st, brk)

	srvCfg := httpserver.DefaultConfig(cfg.HTTPAddr)
	srvCfg.ShutdownTimeout = cfg.ShutdownTimeout
	srvCfg.MaxBodyBytes = cfg.MaxBodyBytes
	srvCfg.TrustedProxies = cfg.TrustedProxies
	srv, err := httpserver.New(srvCfg, log, reg, []httpserver.Check{
		{Name: "redis", Ping: func(ctx context.Context) error { return redisx.Ping(ctx, rdb) }},
		{Name: "kafka", Ping: producer.Ping},
	})
	if err != nil {
		return err
	}
	httpapi.NewHandlers(metrics.Wrap(applier), admins, codec, cfg.AdminKey, log).Register(srv.Engine())
	httpserver.MountPprof(srv.Engine(), cfg.EnablePprof)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return applier.WatchSoldOut(gctx, cfg.SoldOutRefresh) })
	log.Info("apply-gateway started", "event", cfg.EventID)
	err = g.Wait()
	log.Info("apply-gateway stopped")
	return err
}
