//go:build !fuzzing

package consumer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/mysqlstore"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/ports/consumer"
)

// env is one isolated world: its own event id, database and topics.
type env struct {
	t         *testing.T
	eventID   string
	rdb       *redis.Client
	repo      *mysqlstore.Repository
	decider   *redisstore.Decider
	producer  *kafka.Producer
	brokers   []string
	appsTopic string
	decTopic  string
	admTopic  string
	service   *decision.Service
	handler   *consumer.Handler
}

func newEnv(t *testing.T) *env { return newEnvPartitions(t, 1) }

// newEnvPartitions is an env whose applications topic has that many partitions.
func newEnvPartitions(t *testing.T, partitions int32) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{t: t, eventID: testinfra.UniqueName("ev-"), rdb: testinfra.Redis(t), brokers: testinfra.KafkaBrokers(t)}
	var err error
	e.repo, err = mysqlstore.OpenRepository(ctx, testinfra.MySQLDatabase(t), 4)
	if err != nil {
		t.Fatalf("open mysql: %v", err)
	}
	t.Cleanup(func() { _ = e.repo.Close() })
	if err := e.repo.Migrate(ctx, log); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	e.decider, err = redisstore.NewDecider(ctx, e.rdb)
	if err != nil {
		t.Fatalf("decider: %v", err)
	}
	e.appsTopic = testinfra.KafkaTopic(t, e.brokers, "t-apps-", partitions)
	e.decTopic = testinfra.KafkaTopic(t, e.brokers, "t-dec-", 1)
	e.admTopic = testinfra.KafkaTopic(t, e.brokers, "t-adm-", 1)
	e.producer, err = kafka.NewProducer(kafka.ProducerConfig{Brokers: e.brokers, ClientID: "test", Linger: time.Millisecond, MaxBatch: 500, Retries: 3}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { _ = e.producer.Close() })
	e.service, err = decision.NewService(e.decider, e.repo, kafkapub.New(e.producer, e.decTopic),
		// A tiny rebuild page makes every rebuild in these tests span several pages.
		decision.Options{RebuildPage: 2}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("decision service: %v", err)
	}
	e.handler, err = consumer.NewHandler(e.service, e.admTopic)
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	t.Cleanup(func() {
		keys := redisx.KeysFor(e.eventID)
		e.rdb.Del(context.Background(), keys.Total, keys.Remaining, keys.Winners, keys.Losers, keys.Decisions, keys.Applied, keys.SoldOut, keys.Window)
	})
	return e
}

// setStock does what apply-gateway's admin endpoint does to Redis.
func (e *env) setStock(n int) {
	k := redisx.KeysFor(e.eventID)
	ctx := context.Background()
	// stock-consumer loads the event first (state "ready"), then the admin sets the stock.
	if err := e.service.EnsureState(ctx, e.eventID); err != nil {
		e.t.Fatalf("load event: %v", err)
	}
	if err := e.rdb.MSet(ctx, k.Total, n, k.Remaining, n, k.Winners, 0).Err(); err != nil {
		e.t.Fatalf("set stock: %v", err)
	}
	if err := e.repo.SetStock(ctx, e.eventID, int64(n), 0); err != nil {
		e.t.Fatalf("persist stock: %v", err)
	}
}

func (e *env) application(email string, offset int64) *sarama.ConsumerMessage {
	v, err := proto.Marshal(&farewellv1.ApplicationSubmitted{
		SchemaVersion: 1, EventId: e.eventID, Email: email, ApplicationId: fmt.Sprintf("id-%d", offset),
		AppliedAtUnixMs: time.Now().UnixMilli(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return &sarama.ConsumerMessage{Topic: e.appsTopic, Key: []byte(email), Value: v, Offset: offset}
}

type row struct {
	Email     string
	Status    string
	Rank      int64
	DecidedAt time.Time
}

func (e *env) rows() []row {
	snap, err := e.repo.Snapshot(context.Background(), e.eventID)
	if err != nil {
		e.t.Fatalf("snapshot: %v", err)
	}
	out := make([]row, 0, len(snap.Decisions))
	for _, d := range snap.Decisions {
		out = append(out, row{Email: d.Email, Status: string(d.Status), Rank: d.Rank, DecidedAt: d.DecidedAt})
	}
	return out
}

func checkExactlyWinners(t *testing.T, rows []row, wantWinners, wantRows int) {
	t.Helper()
	if len(rows) != wantRows {
		t.Fatalf("rows = %d, want %d", len(rows), wantRows)
	}
	var ranks []int
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.Email] {
			t.Fatalf("email %s has two rows", r.Email)
		}
		seen[r.Email] = true
		if r.Status == "SUCCESS" {
			ranks = append(ranks, int(r.Rank))
		}
	}
	if len(ranks) != wantWinners {
		t.Fatalf("winners = %d, want %d", len(ranks), wantWinners)
	}
	sort.Ints(ranks)
	for i, r := range ranks {
		if r != i+1 {
			t.Fatalf("ranks are not 1..%d: %v", wantWinners, ranks)
		}
	}
}

func TestHandleBatchDecidesExactlyStockAndIsIdempotent(t *testing.T) {
	tests := []struct {
		name       string
		stock      int
		applicants int
	}{
		{name: "more applicants than stock", stock: 7, applicants: 40},
		{name: "stock larger than applicants", stock: 100, applicants: 25},
		{name: "stock zero", stock: 0, applicants: 10},
		{name: "stock one", stock: 1, applicants: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.setStock(tt.stock)
			var batch []*sarama.ConsumerMessage
			for i := 0; i < tt.applicants; i++ {
				email := fmt.Sprintf("p%03d@example.com", i)
				batch = append(batch, e.application(email, int64(len(batch))))
				if i%3 == 0 { // duplicates inside the batch
					batch = append(batch, e.application(email, int64(len(batch))))
				}
			}
			ctx := context.Background()
			poison, err := e.handler.HandleBatch(ctx, batch)
			if err != nil || len(poison) != 0 {
				t.Fatalf("HandleBatch: poison %v, err %v", poison, err)
			}
			want := min(tt.stock, tt.applicants)
			checkExactlyWinners(t, e.rows(), want, tt.applicants)
			before := e.rows()

			// Replaying the whole batch (a redelivery) changes nothing.
			if _, err := e.handler.HandleBatch(ctx, batch); err != nil {
				t.Fatalf("replay: %v", err)
			}
			after := e.rows()
			if fmt.Sprint(before) != fmt.Sprint(after) {
				t.Fatalf("replay changed rows:\nbefore %v\nafter  %v", before, after)
			}
			k := redisx.KeysFor(e.eventID)
			winners, _ := e.rdb.Get(ctx, k.Winners).Int()
			remaining, _ := e.rdb.Get(ctx, k.Remaining).Int()
			if winners != want || remaining != tt.stock-want {
				t.Fatalf("redis winners/remaining = %d/%d, want %d/%d", winners, remaining, want, tt.stock-want)
			}
			if n, _ := e.rdb.HLen(ctx, k.Decisions).Result(); int(n) != tt.applicants {
				t.Fatalf("redis decisions = %d, want %d", n, tt.applicants)
			}
			// Every decision has its time beside it, and the replay kept the first one.
			at, _ := e.rdb.HGetAll(ctx, k.DecidedAt).Result()
			if len(at) != tt.applicants {
				t.Fatalf("redis decided_at has %d entries, want %d", len(at), tt.applicants)
			}
			for _, r := range before {
				if got := at[r.Email]; got != strconv.FormatInt(r.DecidedAt.UnixMilli(), 10) {
					t.Fatalf("decided_at of %s = %q, MySQL says %d", r.Email, got, r.DecidedAt.UnixMilli())
				}
			}
		})
	}
}

func TestRebuildsRedisFromMySQLAfterDataLoss(t *testing.T) {
	e := newEnv(t)
	e.setStock(5)
	ctx := context.Background()
	var first []*sarama.ConsumerMessage
	for i := 0; i < 3; i++ {
		first = append(first, e.application(fmt.Sprintf("early%d@example.com", i), int64(i)))
	}
	if _, err := e.handler.HandleBatch(ctx, first); err != nil {
		t.Fatal(err)
	}
	// Redis loses every key of the event.
	k := redisx.KeysFor(e.eventID)
	if err := e.rdb.Del(ctx, k.Total, k.Remaining, k.Winners, k.Losers, k.Decisions, k.DecidedAt, k.Applied, k.SoldOut, k.Window, k.State, k.Unsettled).Err(); err != nil {
		t.Fatal(err)
	}
	var second []*sarama.ConsumerMessage
	for i := 0; i < 6; i++ {
		second = append(second, e.application(fmt.Sprintf("late%d@example.com", i), int64(10+i)))
	}
	second = append(second, first[0]) // a replay of an early winner
	if _, err := e.handler.HandleBatch(ctx, second); err != nil {
		t.Fatal(err)
	}
	checkExactlyWinners(t, e.rows(), 5, 9)
	if d, _ := e.rdb.HGet(ctx, k.Decisions, "early0@example.com").Result(); d != "SUCCESS:1" {
		t.Fatalf("early winner after rebuild = %q, want SUCCESS:1", d)
	}
	for _, r := range e.rows() {
		if got, _ := e.rdb.HGet(ctx, k.DecidedAt, r.Email).Result(); got != strconv.FormatInt(r.DecidedAt.UnixMilli(), 10) {
			t.Fatalf("decided_at of %s after rebuild = %q, MySQL says %d", r.Email, got, r.DecidedAt.UnixMilli())
		}
	}
	if v, _ := e.rdb.Get(ctx, k.SoldOut).Result(); v != "1" {
		t.Fatalf("sold-out flag = %q, want 1", v)
	}
}

func TestWatchStateRebuildsWithoutTraffic(t *testing.T) {
	e := newEnv(t)
	e.setStock(4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := e.handler.HandleBatch(ctx, []*sarama.ConsumerMessage{e.application("w@example.com", 0)}); err != nil {
		t.Fatal(err)
	}
	k := redisx.KeysFor(e.eventID)
	e.rdb.Del(ctx, k.State, k.Total, k.Remaining, k.Winners, k.Decisions)
	done := make(chan error, 1)
	go func() { done <- e.service.WatchState(ctx, e.eventID, 20*time.Millisecond, time.Minute) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rem, _ := e.rdb.Get(ctx, k.Remaining).Int()
		d, _ := e.rdb.HGet(ctx, k.Decisions, "w@example.com").Result()
		if rem == 3 && d == "SUCCESS:1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state not rebuilt: remaining=%d decision=%q", rem, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAdminStockOnEmptyRedisCannotOversell: after Redis lost the event, the
// counters must come back from MySQL even if something recreated the total.
func TestRestoreOverwritesCountersRecreatedOnEmptyRedis(t *testing.T) {
	e := newEnv(t)
	e.setStock(2)
	ctx := context.Background()
	var batch []*sarama.ConsumerMessage
	for i := 0; i < 2; i++ {
		batch = append(batch, e.application(fmt.Sprintf("first%d@example.com", i), int64(i)))
	}
	if _, err := e.handler.HandleBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	k := redisx.KeysFor(e.eventID)
	e.rdb.Del(ctx, k.State, k.Total, k.Remaining, k.Winners, k.Losers, k.Decisions, k.Applied, k.SoldOut)
	// A stale writer recreates the total with fresh counters.
	e.rdb.MSet(ctx, k.Total, 2, k.Remaining, 2, k.Winners, 0)
	if _, err := e.handler.HandleBatch(ctx, []*sarama.ConsumerMessage{e.application("late@example.com", 5)}); err != nil {
		t.Fatal(err)
	}
	checkExactlyWinners(t, e.rows(), 2, 3)
}

// TestStrandedAdmissionsAreDecided: an admission whose gateway died before
// publishing is decided by stock-consumer, so its owner is never PENDING forever.
func TestStrandedAdmissionsAreDecided(t *testing.T) {
	e := newEnv(t)
	e.setStock(1)
	ctx := context.Background()
	k := redisx.KeysFor(e.eventID)
	old := time.Now().Add(-time.Minute)
	e.rdb.HSet(ctx, k.Applied, "stranded@example.com", fmt.Sprintf("A:%d", old.UnixMilli()))
	e.rdb.ZAdd(ctx, k.Unsettled, redis.Z{Score: float64(old.UnixMilli()), Member: "stranded@example.com"})
	e.rdb.ZAdd(ctx, k.Unsettled, redis.Z{Score: float64(time.Now().UnixMilli()), Member: "fresh@example.com"})
	n, err := e.service.DecideStranded(ctx, e.eventID, 30*time.Second)
	if err != nil || n != 1 {
		t.Fatalf("decided %d stranded, err %v; want 1", n, err)
	}
	checkExactlyWinners(t, e.rows(), 1, 1)
	if d, _ := e.rdb.HGet(ctx, k.Decisions, "stranded@example.com").Result(); d != "SUCCESS:1" {
		t.Fatalf("stranded decision = %q", d)
	}
	if left, _ := e.rdb.ZRange(ctx, k.Unsettled, 0, -1).Result(); len(left) != 1 || left[0] != "fresh@example.com" {
		t.Fatalf("unsettled after sweep = %v, want only the fresh admission", left)
	}
	// Its Kafka copy arriving later is a replay.
	if _, err := e.handler.HandleBatch(ctx, []*sarama.ConsumerMessage{e.application("stranded@example.com", 9)}); err != nil {
		t.Fatal(err)
	}
	checkExactlyWinners(t, e.rows(), 1, 1)
}

func TestPoisonMessagesAreReturnedNotDropped(t *testing.T) {
	e := newEnv(t)
	e.setStock(1)
	good := e.application("good@example.com", 0)
	future, _ := proto.Marshal(&farewellv1.ApplicationSubmitted{SchemaVersion: 9, EventId: e.eventID, Email: "x@example.com"})
	batch := []*sarama.ConsumerMessage{
		{Topic: e.appsTopic, Value: []byte{0xff, 0x01, 0x02}, Offset: 1},
		good,
		{Topic: e.appsTopic, Value: future, Offset: 2},
	}
	poison, err := e.handler.HandleBatch(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(poison) != 2 || poison[0].Msg.Offset != 1 || poison[1].Msg.Offset != 2 {
		t.Fatalf("poison = %+v, want offsets 1 and 2", poison)
	}
	checkExactlyWinners(t, e.rows(), 1, 1)
}

// TestGroupEndToEnd runs the real consumer group: applications produced as
// protobuf go through Kafka, decisions come back on the decisions topic,
// poison lands in the dead-letter topic with its reason, and admin changes
// reach MySQL.
func TestGroupEndToEnd(t *testing.T) {
	for _, partitions := range []int32{1, 4} {
		t.Run(fmt.Sprintf("%d partitions", partitions), func(t *testing.T) { groupEndToEnd(t, partitions) })
	}
}

func groupEndToEnd(t *testing.T, partitions int32) {
	e := newEnvPartitions(t, partitions)
	e.setStock(3)
	dlq := kafka.DeadLetter(e.appsTopic)
	testinfra.CreateKafkaTopic(t, e.brokers, dlq, 1)
	ctx := e.runGroup(testinfra.UniqueName("g-"), e.handler)

	var msgs []kafka.Message
	for i := 0; i < 10; i++ {
		m := e.application(fmt.Sprintf("g%d@example.com", i), 0)
		msgs = append(msgs, kafka.Message{Topic: e.appsTopic, Key: string(m.Key), Value: m.Value})
	}
	msgs = append(msgs, kafka.Message{Topic: e.appsTopic, Key: "bad", Value: []byte("not protobuf at all")})
	for _, m := range msgs { // one by one keeps the log order
		if err := e.producer.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	admin, _ := proto.Marshal(&farewellv1.EventAdminChanged{SchemaVersion: 1, EventId: e.eventID,
		Change: &farewellv1.EventAdminChanged_StockSet{StockSet: &farewellv1.StockSet{TotalStock: 3}}})
	if err := e.producer.Publish(ctx, kafka.Message{Topic: e.admTopic, Key: e.eventID, Value: admin}); err != nil {
		t.Fatal(err)
	}

	decisions := testinfra.ReadMessages(t, e.brokers, e.decTopic, 10)
	winners := 0
	for _, d := range decisions {
		var m farewellv1.ApplicationDecided
		if err := proto.Unmarshal(d.Value, &m); err != nil {
			t.Fatal(err)
		}
		if m.GetStatus() == farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS {
			winners++
			if m.GetRank() < 1 || m.GetRank() > 3 {
				t.Fatalf("winner rank %d out of 1..3", m.GetRank())
			}
		}
	}
	if winners != 3 {
		t.Fatalf("published winners = %d, want 3", winners)
	}
	checkExactlyWinners(t, e.rows(), 3, 10)
	// With one partition, log order is arrival order: the first three
	// applicants win. With more, order holds per partition only.
	for _, r := range e.rows() {
		if partitions > 1 {
			break
		}
		if (r.Status == "SUCCESS") != (r.Email == "g0@example.com" || r.Email == "g1@example.com" || r.Email == "g2@example.com") {
			t.Fatalf("unfair decision: %+v", r)
		}
	}
	dead := testinfra.ReadMessages(t, e.brokers, dlq, 1)
	reason := ""
	for _, h := range dead[0].Headers {
		if string(h.Key) == kafka.HeaderDLQReason {
			reason = string(h.Value)
		}
	}
	if reason == "" || string(dead[0].Value) != "not protobuf at all" {
		t.Fatalf("dead letter = %q with reason %q", dead[0].Value, reason)
	}
}

// runGroup runs a member of consumer group groupID on the env's topics
// until the test ends, and returns a context for the test's own calls.
func (e *env) runGroup(groupID string, h kafka.BatchHandler) context.Context {
	e.t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	group, err := kafka.NewGroup(kafka.GroupConfig{
		Brokers: e.brokers, GroupID: groupID, ClientID: "test",
		Topics: []string{e.appsTopic, e.admTopic}, MaxBatch: 100,
		MaxAttempts: 3, RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
	}, h, e.producer, log, prometheus.NewRegistry())
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- group.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("group run: %v", err)
		}
	})
	return ctx
}
