// Command auth issues email verification codes and exchanges a correct code
// for a participant token (JWT). It publishes code requests to Kafka for the
// notifier and keeps codes, attempts and limits in Redis.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/service"
	"github.com/terning-farewell/farewell/pkg/token"
	"github.com/terning-farewell/farewell/services/auth/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/auth/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/auth/internal/codes"
	"github.com/terning-farewell/farewell/services/auth/internal/config"
	"github.com/terning-farewell/farewell/services/auth/internal/ports/httpapi"
	"github.com/terning-farewell/farewell/services/auth/internal/verification"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "auth:", err)
		os.Exit(1)
	}
}

// run wires the service; the runtime runs it until SIGINT or SIGTERM and
// shuts it down in order: HTTP intake, then the producer, then Redis.
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
	codec, err := token.New(cfg.Token)
	if err != nil {
		return err
	}
	hasher, err := codes.NewHasher(cfg.Codes.Secret)
	if err != nil {
		return err
	}

	rdb, err := rt.Redis()
	if err != nil {
		return err
	}
	codeStore, err := service.Connect(rt, "redis scripts", func(ctx context.Context) (*redisstore.Store, error) {
		return redisstore.New(ctx, rdb, redisstore.Limits{
			CodeTTL:        cfg.Codes.TTL,
			ResendCooldown: cfg.Codes.ResendCooldown,
			HourlyLimit:    cfg.Codes.HourlyLimit,
			MaxAttempts:    cfg.Codes.MaxAttempts,
			IPRequestLimit: cfg.Codes.IPRequestLimit,
			IPVerifyLimit:  cfg.Codes.IPVerifyLimit,
			IPWindow:       cfg.Codes.IPWindow,
			AddressLimit:   cfg.Codes.AddressLimit,
			AddressWindow:  cfg.Codes.AddressWindow,
		})
	})
	if err != nil {
		return err
	}
	// A policy change while the event has applications would let one
	// mailbox apply twice: refuse to start instead.
	pinCtx, cancelPin := context.WithTimeout(context.Background(), 10*time.Second)
	err = codeStore.PinPolicy(pinCtx, cfg.Common.EventID, cfg.Codes.Policy)
	cancelPin()
	if err != nil {
		return err
	}
	producer, err := rt.Producer(kafka.ProducerConfig{Linger: cfg.KafkaLinger, Retries: 3})
	if err != nil {
		return err
	}
	rt.Ready("kafka", producer.Ping)

	svc, err := verification.New(codeStore, kafkapub.New(producer, cfg.CodesTopic), codec, hasher, verification.Settings{
		CodeTTL:        cfg.Codes.TTL,
		ResendCooldown: cfg.Codes.ResendCooldown,
		MaxAttempts:    cfg.Codes.MaxAttempts,
		PublishTimeout: cfg.PublishTimeout,
		Policy:         cfg.Codes.Policy,
	}, rt.Log(), rt.Registry())
	if err != nil {
		return err
	}
	if err := httpapi.Mount(rt.Engine(), svc, rt.Log(), cfg.TrustedProxies); err != nil {
		return err
	}

	rt.Log().Info("auth wired", "codes_topic", cfg.CodesTopic, "email_policy", cfg.Codes.Policy)
	return rt.Run()
}
