// Command notifier sends Farewell's emails: verification codes (from
// farewell.auth.codes) and event results (from farewell.event.decisions).
// Each topic has its own consumer group and SMTP connection, so a code
// email never waits behind a backlog of result emails.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/mail"
	"github.com/terning-farewell/farewell/pkg/observability"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/services/notifier/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/notifier/internal/adapters/smtpmail"
	"github.com/terning-farewell/farewell/services/notifier/internal/config"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
	"github.com/terning-farewell/farewell/services/notifier/internal/ports/consumer"
	"github.com/terning-farewell/farewell/services/notifier/internal/templates"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "notifier:", err)
		os.Exit(1)
	}
}

// realMain wires the notifier and runs it until ctx ends. Shutdown order:
// the groups stop consuming (sarama commits marked offsets on close), then
// the SMTP senders close, then the dead-letter producer flushes, then Redis.
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

	// Deferred closes run in reverse: senders, then producer, then Redis.
	rdb := redisx.NewClient(redisx.Config{Addr: cfg.Common.RedisAddr, Password: cfg.Common.RedisPassword, PoolSize: cfg.Common.RedisPoolSize})
	defer func() { err = errors.Join(err, closeWith("redis", rdb.Close)) }()
	markers, err := redisstore.NewMarkers(ctx, rdb)
	if err != nil {
		return err
	}
	dlq, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: cfg.Common.KafkaBrokers, ClientID: cfg.Common.Instance + "-dlq", Retries: 3}, log, reg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeWith("dead-letter producer", dlq.Close)) }()

	renderer, err := templates.New()
	if err != nil {
		return err
	}
	metrics, err := delivery.NewMetrics(reg)
	if err != nil {
		return err
	}
	codeSender, err := mail.NewSender(cfg.Mail)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeWith("code smtp sender", codeSender.Close)) }()
	resultSender, err := mail.NewSender(cfg.Mail)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeWith("result smtp sender", resultSender.Close)) }()

	deps := func(s *mail.Sender) delivery.Deps {
		return delivery.Deps{Sender: smtpmail.New(s), Markers: markers, Renderer: renderer, Metrics: metrics, Log: log,
			Retry: delivery.DefaultRetry(cfg.MailMaxAttempts)}
	}
	codeHandler, err := consumer.NewCodeHandler(deps(codeSender))
	if err != nil {
		return err
	}
	resultHandler, err := consumer.NewResultHandler(deps(resultSender), cfg.NotifyLosers)
	if err != nil {
		return err
	}
	codeGroup, err := newGroup(cfg, cfg.CodesGroup, cfg.CodesTopic, codeHandler, dlq, log, reg)
	if err != nil {
		return err
	}
	resultGroup, err := newGroup(cfg, cfg.ResultsGroup, cfg.DecisionsTopic, resultHandler, dlq, log, reg)
	if err != nil {
		return err
	}

	srv, err := httpserver.New(cfg.HTTP, log, reg, []httpserver.Check{
		{Name: "redis", Ping: func(ctx context.Context) error { return redisx.Ping(ctx, rdb) }},
		{Name: "kafka_codes_group", Ping: codeGroup.Ping},
		{Name: "kafka_results_group", Ping: resultGroup.Ping},
		{Name: "smtp_codes", Ping: codeSender.Ping},
		{Name: "smtp_results", Ping: resultSender.Ping},
	})
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return codeGroup.Run(gctx) })
	g.Go(func() error { return resultGroup.Run(gctx) })
	log.Info("notifier started", "codes_topic", cfg.CodesTopic, "decisions_topic", cfg.DecisionsTopic,
		"notify_losers", cfg.NotifyLosers)
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("notifier stopped")
	return nil
}

func newGroup(cfg config.Config, groupID, topic string, h kafka.BatchHandler, dlq *kafka.Producer, log *slog.Logger, reg prometheus.Registerer) (*kafka.Group, error) {
	return kafka.NewGroup(kafka.GroupConfig{
		Brokers: cfg.Common.KafkaBrokers, GroupID: groupID, Topics: []string{topic},
		ClientID: cfg.Common.Instance + "-" + groupID, MaxBatch: cfg.MaxBatch,
	}, h, dlq, log, reg)
}

func closeWith(what string, close func() error) error {
	if err := close(); err != nil {
		return fmt.Errorf("close %s: %w", what, err)
	}
	return nil
}
