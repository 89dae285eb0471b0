// Command apply-gateway admits applications: it verifies the participant's
// token, admits the application in one Redis round trip, publishes it to
// Kafka and answers 202 once the broker acknowledged it. It also serves
// status and the admin API.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/google/uuid"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/service"
	"github.com/terning-farewell/farewell/pkg/token"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admin"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/config"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ledger"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ports/httpapi"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apply-gateway:", err)
		os.Exit(1)
	}
}

// run wires the service; the runtime runs it until SIGINT or SIGTERM and
// shuts it down in order: HTTP intake (in-flight applies get their ack),
// then the sold-out watcher, then the producer, then Redis.
func run() error {
	cfg, err := config.Load(pkgconfig.FromEnviron())
	if err != nil {
		return err
	}
	rt, err := service.New(context.Background(), cfg.Common, service.Options{
		MaxBodyBytes: cfg.MaxBodyBytes, TrustedProxies: cfg.TrustedProxies, RedisBufferBytes: cfg.RedisBufferBytes,
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	codec, err := token.New(cfg.Token)
	if err != nil {
		return err
	}
	signer, err := fairlog.NewSigner(cfg.Receipts)
	if err != nil {
		return err
	}
	metrics, err := admission.NewMetrics(rt.Registry())
	if err != nil {
		return err
	}

	rdb, err := rt.Redis()
	if err != nil {
		return err
	}
	st, err := service.Connect(rt, "redis scripts", func(ctx context.Context) (*redisstore.Redis, error) {
		return redisstore.NewRedis(ctx, rdb, cfg.Common.EventID)
	})
	if err != nil {
		return err
	}
	producer, err := rt.Producer(kafka.ProducerConfig{Linger: cfg.KafkaLinger, MaxBatch: 1000, Retries: 3})
	if err != nil {
		return err
	}
	rt.Ready("kafka", producer.Ping)

	brk := kafkapub.New(producer, cfg.Common.EventID, cfg.Common.Instance, cfg.ApplicationsTopic, cfg.AdminTopic)
	applier, err := admission.NewService(admission.Config{
		EventID: cfg.Common.EventID, Grace: cfg.AdmissionGrace, PublishTimeout: cfg.PublishTimeout, MaxInFlight: cfg.MaxInFlight,
		ClockSkew: cfg.ClockSkew, Notary: signer,
		Participant: func(email string) string { return fairlog.Participant(cfg.ParticipantSalt, cfg.Common.EventID, email) },
	}, st, brk, uuid.NewString)
	if err != nil {
		return err
	}
	admins := admin.NewService(admin.Config{PublishTimeout: cfg.PublishTimeout}, st, brk)
	evidence, err := ledger.NewService(cfg.Common.EventID, st, signer)
	if err != nil {
		return err
	}
	httpapi.NewHandlers(metrics.Wrap(applier), admins, codec, cfg.AdminKey, rt.Log()).WithLedger(evidence).Register(rt.Engine())
	rt.Go("sold-out watcher", func(ctx context.Context) error { return applier.WatchSoldOut(ctx, cfg.SoldOutRefresh) })

	rt.Log().Info("apply-gateway wired", "event", cfg.Common.EventID)
	return rt.Run()
}
