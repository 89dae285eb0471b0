// Command notifier sends Farewell's emails: verification codes (from
// farewell.auth.codes) and event results (from farewell.event.decisions).
// Each topic has its own consumer group and SMTP connection, so a code
// email never waits behind a backlog of result emails.
package main

import (
	"context"
	"fmt"
	"os"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/mail"
	"github.com/terning-farewell/farewell/pkg/service"
	"github.com/terning-farewell/farewell/services/notifier/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/notifier/internal/adapters/smtpmail"
	"github.com/terning-farewell/farewell/services/notifier/internal/config"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
	"github.com/terning-farewell/farewell/services/notifier/internal/ports/consumer"
	"github.com/terning-farewell/farewell/services/notifier/internal/templates"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "notifier:", err)
		os.Exit(1)
	}
}

// run wires the notifier; the runtime runs it until SIGINT or SIGTERM and
// shuts it down in order: the groups stop consuming (sarama commits marked
// offsets on close), then the SMTP senders close, then the dead-letter
// producer flushes, then Redis closes.
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
	renderer, err := templates.New()
	if err != nil {
		return err
	}
	metrics, err := delivery.NewMetrics(rt.Registry())
	if err != nil {
		return err
	}

	rdb, err := rt.Redis()
	if err != nil {
		return err
	}
	markers, err := service.Connect(rt, "redis scripts", func(ctx context.Context) (*redisstore.Markers, error) {
		return redisstore.NewMarkers(ctx, rdb, redisstore.MarkerOptions{
			Replicas: cfg.MarkerReplicas, WaitTimeout: cfg.MarkerWait, Registerer: rt.Registry()})
	})
	if err != nil {
		return err
	}
	dlq, err := rt.Producer(kafka.ProducerConfig{ClientID: cfg.Common.Instance + "-dlq", Retries: 3})
	if err != nil {
		return err
	}
	codeSender, err := mail.NewSender(cfg.Mail)
	if err != nil {
		return err
	}
	rt.OnStop("code smtp sender", codeSender.Close)
	rt.Ready("smtp_codes", codeSender.Ping)
	resultSender, err := mail.NewSender(cfg.Mail)
	if err != nil {
		return err
	}
	rt.OnStop("result smtp sender", resultSender.Close)
	rt.Ready("smtp_results", resultSender.Ping)

	deps := func(s *mail.Sender) delivery.Deps {
		return delivery.Deps{Sender: smtpmail.New(s), Markers: markers, Renderer: renderer, Metrics: metrics, Log: rt.Log(), SendTimeout: cfg.Mail.Timeout,
			Retry: delivery.DefaultRetry(cfg.MailMaxAttempts), Now: markers.Now, Parallel: cfg.Mail.Connections}
	}
	codeHandler, err := consumer.NewCodeHandler(deps(codeSender))
	if err != nil {
		return err
	}
	resultHandler, err := consumer.NewResultHandler(deps(resultSender), cfg.NotifyLosers)
	if err != nil {
		return err
	}
	codeGroup, err := rt.Consume(groupConfig(cfg, cfg.CodesGroup, cfg.CodesTopic), codeHandler, dlq)
	if err != nil {
		return err
	}
	rt.Ready("kafka_codes_group", codeGroup.Ping)
	resultGroup, err := rt.Consume(groupConfig(cfg, cfg.ResultsGroup, cfg.DecisionsTopic), resultHandler, dlq)
	if err != nil {
		return err
	}
	rt.Ready("kafka_results_group", resultGroup.Ping)

	rt.Log().Info("notifier wired", "codes_topic", cfg.CodesTopic, "decisions_topic", cfg.DecisionsTopic,
		"notify_losers", cfg.NotifyLosers)
	return rt.Run()
}

func groupConfig(cfg config.Config, groupID, topic string) kafka.GroupConfig {
	return kafka.GroupConfig{
		GroupID: groupID, Topics: []string{topic},
		ClientID: cfg.Common.Instance + "-" + groupID, MaxBatch: cfg.MaxBatch,
		MaxAttempts: cfg.MaxAttempts,
	}
}
