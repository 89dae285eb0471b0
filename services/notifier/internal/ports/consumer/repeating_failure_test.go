//go:build !fuzzing

package consumer_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	notifierconfig "github.com/terning-farewell/farewell/services/notifier/internal/config"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
	"github.com/terning-farewell/farewell/services/notifier/internal/ports/consumer"
)

// TestMessageThatFailsEveryTimeIsDeadLetteredAndThePartitionMovesOn: a
// result whose marker Redis refuses every time (the key holds a hash, so
// the claim gets WRONGTYPE while Redis is healthy) is retried the
// configured number of times, then dead-lettered with Redis's answer as
// its reason, and the next result on the partition is mailed.
func TestMessageThatFailsEveryTimeIsDeadLetteredAndThePartitionMovesOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg, err := notifierconfig.Load(config.FromMap(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: e.brokers, ClientID: "notifier-test-dlq"}, discard, e.reg)
	if err != nil {
		t.Fatal(err)
	}
	results, err := consumer.NewResultHandler(e.deps(e.sender(t, e.mailpit.SMTPHost, e.mailpit.SMTPPort), delivery.DefaultRetry(2)), false)
	if err != nil {
		t.Fatal(err)
	}
	// The group as the notifier's main configures it (attempts from the
	// config's default), with short pauses.
	group, err := kafka.NewGroup(kafka.GroupConfig{
		Brokers: e.brokers, GroupID: testinfra.UniqueName("test-notifier-"), Topics: []string{e.decisionsTopic},
		ClientID: "notifier-test", MaxBatch: cfg.MaxBatch, MaxAttempts: cfg.MaxAttempts,
		RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
	}, results, dlq, discard, e.reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = group.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = dlq.Close()
	})

	eventID := testinfra.UniqueName("event-")
	poison, next := uniqueEmail(), uniqueEmail()
	marker := delivery.Job{Kind: delivery.KindResult, ID: eventID + ":" + poison + ":SUCCESS"}.MarkerKey()
	if err := e.rdb.HSet(ctx, marker, "not", "a marker").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.rdb.Del(context.Background(), marker) })
	e.publish(t, e.decisionsTopic, poison, decision(eventID, poison, farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS, 1))
	e.publish(t, e.decisionsTopic, next, decision(eventID, next, farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS, 2))

	dead := testinfra.ReadMessages(t, e.brokers, kafka.DeadLetter(e.decisionsTopic), 1)[0]
	if string(dead.Key) != poison || !strings.Contains(testinfra.Header(dead, kafka.HeaderDLQReason), "WRONGTYPE") {
		t.Fatalf("dead letter key %q reason %q; want %s with Redis's refusal", dead.Key, testinfra.Header(dead, kafka.HeaderDLQReason), poison)
	}
	if got := testinfra.Header(dead, kafka.HeaderDLQAttempts); got == "1" {
		t.Fatalf("dead-lettered after %s attempt; want the configured %d", got, cfg.MaxAttempts)
	}
	e.onlyMail(t, next)
	e.expectNoMail(t, poison, 0)
}
