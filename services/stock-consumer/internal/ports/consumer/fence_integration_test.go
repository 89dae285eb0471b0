//go:build !fuzzing

package consumer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/ports/consumer"
)

// replica is a second decision service on the same event, Redis and MySQL:
// another stock-consumer process.
func (e *env) replica(fault func(decision.FaultPoint)) *consumer.Handler {
	e.t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := decision.NewService(e.decider, e.repo, kafkapub.New(e.producer, e.decTopic),
		decision.Options{RebuildPage: 2, Fault: fault}, log, prometheus.NewRegistry())
	if err != nil {
		e.t.Fatalf("second decision service: %v", err)
	}
	h, err := consumer.NewHandler(svc, e.admTopic)
	if err != nil {
		e.t.Fatalf("second handler: %v", err)
	}
	return h
}

func (e *env) applications(prefix string, n int, firstOffset int64) []*sarama.ConsumerMessage {
	var out []*sarama.ConsumerMessage
	for i := 0; i < n; i++ {
		out = append(out, e.application(fmt.Sprintf("%s%d@example.com", prefix, i), firstOffset+int64(i)))
	}
	return out
}

// TestRebuildFencesAnotherReplicasUnpersistedBatch: replica A decides a
// batch in Redis and stops before its MySQL insert; Redis loses the event and
// replica B rebuilds it from MySQL (which lacks A's winners) and decides more.
// A's insert must then be refused and its batch decided again on the rebuilt
// state: winners stay exactly the stock.
func TestRebuildFencesAnotherReplicasUnpersistedBatch(t *testing.T) {
	e := newEnv(t)
	e.setStock(5)
	ctx := context.Background()

	decided := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	a := e.replica(func(p decision.FaultPoint) {
		if p == decision.AfterDecide {
			once.Do(func() {
				close(decided)
				<-release
			})
		}
	})
	b := e.replica(nil)

	aDone := make(chan error, 1)
	go func() {
		_, err := a.HandleBatch(ctx, e.applications("a", 3, 0))
		aDone <- err
	}()
	<-decided // A holds ranks 1..3 in Redis, nothing in MySQL yet.

	k := redisx.KeysFor(e.eventID)
	if err := e.rdb.Del(ctx, k.Total, k.Remaining, k.Winners, k.Losers, k.Decisions, k.DecidedAt, k.SoldOut, k.State).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.HandleBatch(ctx, e.applications("b", 5, 10)); err != nil {
		t.Fatalf("replica B: %v", err)
	}
	close(release)
	if err := <-aDone; err != nil {
		t.Fatalf("replica A: %v", err)
	}
	checkExactlyWinners(t, e.rows(), 5, 8)
	winners, _ := e.rdb.Get(ctx, k.Winners).Int()
	remaining, _ := e.rdb.Get(ctx, k.Remaining).Int()
	if winners != 5 || remaining != 0 {
		t.Fatalf("redis winners/remaining = %d/%d, want 5/0", winners, remaining)
	}
}

// TestOlderCopyOfRedisIsDetected: Redis comes back with an older copy of the
// event (a failover to a lagging replica): the state key is there, but
// decisions and counters are behind MySQL. Nothing may be decided on that
// view: no rank is handed out twice and winners stay exactly the stock.
func TestOlderCopyOfRedisIsDetected(t *testing.T) {
	e := newEnv(t)
	e.setStock(5)
	ctx := context.Background()
	if _, err := e.handler.HandleBatch(ctx, e.applications("early", 2, 0)); err != nil {
		t.Fatal(err)
	}
	k := redisx.KeysFor(e.eventID)
	keys := []string{k.Total, k.Remaining, k.Winners, k.Losers, k.Decisions, k.DecidedAt, k.Applied, k.SoldOut, k.Window}
	dumps := map[string]string{}
	for _, key := range keys {
		if v, err := e.rdb.Dump(ctx, key).Result(); err == nil {
			dumps[key] = v
		}
	}
	middle := e.applications("middle", 2, 10)
	if _, err := e.handler.HandleBatch(ctx, middle); err != nil {
		t.Fatal(err)
	}
	// The older copy comes back; the state key is kept.
	for _, key := range keys {
		e.rdb.Del(ctx, key)
		if v, ok := dumps[key]; ok {
			if err := e.rdb.Restore(ctx, key, 0, v).Err(); err != nil {
				t.Fatalf("restore %s: %v", key, err)
			}
		}
	}
	late := append([]*sarama.ConsumerMessage{middle[0]}, e.applications("late", 3, 20)...)
	if _, err := e.handler.HandleBatch(ctx, late); err != nil {
		t.Fatal(err)
	}
	checkExactlyWinners(t, e.rows(), 5, 7)
	if d, _ := e.rdb.HGet(ctx, k.Decisions, "middle1@example.com").Result(); d != "SUCCESS:4" {
		t.Fatalf("middle1 after the older copy = %q, want SUCCESS:4 (as MySQL has it)", d)
	}
	winners, _ := e.rdb.Get(ctx, k.Winners).Int()
	remaining, _ := e.rdb.Get(ctx, k.Remaining).Int()
	if winners != 5 || remaining != 0 {
		t.Fatalf("redis winners/remaining = %d/%d, want 5/0", winners, remaining)
	}
}

// TestTwoConsumersStayExact runs two members of one consumer group, each
// its own decision service, on an applications topic of 1 and of 4
// partitions, and makes Redis lose the event while they decide: winners are
// exactly the stock, ranks 1..stock, Redis agrees with MySQL. With one
// partition one member owns nothing and must decide and rebuild nothing.
func TestTwoConsumersStayExact(t *testing.T) {
	for _, partitions := range []int32{1, 4} {
		t.Run(fmt.Sprintf("%d partitions", partitions), func(t *testing.T) {
			const applicants, stock = 300, 120
			e := newEnvPartitions(t, partitions)
			e.setStock(stock)
			groupID := testinfra.UniqueName("g-")
			ctx := e.runGroup(groupID, e.handler)
			e.runGroup(groupID, e.replica(nil))
			k := redisx.KeysFor(e.eventID)
			for i := 0; i < applicants; i++ {
				m := e.application(fmt.Sprintf("s%03d@example.com", i), 0)
				if err := e.producer.Publish(ctx, kafka.Message{Topic: e.appsTopic, Key: string(m.Key), Value: m.Value}); err != nil {
					t.Fatal(err)
				}
				if i == applicants/3 {
					if err := e.rdb.Del(ctx, k.Total, k.Remaining, k.Winners, k.Losers, k.Decisions, k.DecidedAt, k.SoldOut, k.State).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			deadline := time.Now().Add(2 * time.Minute)
			for len(e.rows()) < applicants {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d applications decided", len(e.rows()), applicants)
				}
				time.Sleep(50 * time.Millisecond)
			}
			checkExactlyWinners(t, e.rows(), stock, applicants)
			winners, _ := e.rdb.Get(ctx, k.Winners).Int()
			losers, _ := e.rdb.Get(ctx, k.Losers).Int()
			if winners != stock || losers != applicants-stock {
				t.Fatalf("redis winners/losers = %d/%d, want %d/%d", winners, losers, stock, applicants-stock)
			}
		})
	}
}
