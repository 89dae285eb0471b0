//go:build !fuzzing

package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/ports/consumer"
)

var logSalt = []byte("the participant salt of this test, 32+ bytes")

// withLog rewires e's service as main does: participants hashed, the log
// copied to Redis after every persisted batch and admin change.
func withLog(t *testing.T, e *env) *decision.LogPublisher {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cp, err := redisstore.NewLogCopy(context.Background(), e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := decision.NewLogPublisher(e.repo, cp, log)
	if err != nil {
		t.Fatal(err)
	}
	e.service, err = decision.NewService(e.decider, e.repo, kafkapub.New(e.producer, e.decTopic), decision.Options{
		RebuildPage:  2,
		Participant:  func(ev, email string) string { return fairlog.Participant(logSalt, ev, email) },
		AfterPersist: pub.CopyNow,
	}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e.handler, err = consumer.NewHandler(e.service, e.admTopic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.rdb.Del(context.Background(), redisx.KeysFor(e.eventID).Log) })
	return pub
}

// copiedLog reads the Redis copy and checks its chain; it returns the entries.
func copiedLog(t *testing.T, e *env) []fairlog.Entry {
	t.Helper()
	lines, err := e.rdb.LRange(context.Background(), redisx.KeysFor(e.eventID).Log, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	prev := fairlog.GenesisHash
	out := make([]fairlog.Entry, 0, len(lines))
	for i, line := range lines {
		en, err := fairlog.ParseEntry([]byte(line))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if en.Seq != int64(i+1) || en.Prev != prev || en.ComputeHash() != en.Hash || en.Event != e.eventID {
			t.Fatalf("line %d does not chain: %s", i+1, line)
		}
		prev = en.Hash
		out = append(out, en)
	}
	return out
}

func decisionsOf(es []fairlog.Entry) []fairlog.Entry {
	var out []fairlog.Entry
	for _, en := range es {
		if en.Kind.IsDecision() {
			out = append(out, en)
		}
	}
	return out
}

// TestDecisionLogHoldsWhatIsPersistedInOrder: the log records the stock
// change and every decision once, in offset order, with the participant's
// salted hash, the place in line and the stock it was decided under; a
// replayed batch adds nothing; a batch fenced by a rebuild is not logged
// until it is persisted; the copy in Redis is rebuilt from MySQL when lost.
func TestDecisionLogHoldsWhatIsPersistedInOrder(t *testing.T) {
	e := newEnv(t)
	pub := withLog(t, e)
	ctx := context.Background()
	e.setStock(2)
	var batch []*sarama.ConsumerMessage
	for i := 0; i < 4; i++ {
		batch = append(batch, e.application(fmt.Sprintf("q%d@example.com", i), int64(10+i)))
	}
	batch = append(batch, e.application("q0@example.com", 14)) // a duplicate
	if _, err := e.handler.HandleBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := e.handler.HandleBatch(ctx, batch); err != nil { // a redelivery
		t.Fatal(err)
	}
	es := copiedLog(t, e)
	if len(es) != 5 || es[0].Kind != fairlog.KindStock || es[0].Stock != 2 {
		t.Fatalf("log = %+v; want the stock change, then 4 decisions", es)
	}
	for i, d := range decisionsOf(es) {
		wantStatus, wantRank := "SUCCESS", int64(i+1)
		if i >= 2 {
			wantStatus, wantRank = "FAILURE", 0
		}
		who := fairlog.Participant(logSalt, e.eventID, fmt.Sprintf("q%d@example.com", i))
		if d.Participant != who || d.Offset != int64(10+i) || d.Status != wantStatus || d.Rank != wantRank || d.Stock != 2 {
			t.Fatalf("decision %d = %+v; want q%d at offset %d, %s rank %d under stock 2", i, d, i, 10+i, wantStatus, wantRank)
		}
	}

	// A batch decided in Redis, then fenced by a rebuild: nothing logged.
	late := decision.Application{EventID: e.eventID, Email: "late@example.com", ApplicationID: "x", AppliedAt: time.Now(), Offset: 20}
	w, err := e.repo.Watermark(ctx, e.eventID)
	if err != nil {
		t.Fatal(err)
	}
	decided, err := e.decider.Decide(ctx, e.eventID, []decision.Application{late}, w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.repo.FenceRebuild(ctx, e.eventID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.repo.SaveDecisions(ctx, decided.Epoch, decided.Decisions); !errors.Is(err, decision.ErrFenced) {
		t.Fatalf("SaveDecisions after a fence = %v, want ErrFenced", err)
	}
	if err := pub.Sync(ctx, e.eventID); err != nil {
		t.Fatal(err)
	}
	if n := len(copiedLog(t, e)); n != 5 {
		t.Fatalf("a fenced batch reached the log: %d entries", n)
	}
	// Decided again and persisted, it is logged once.
	if _, err := e.handler.HandleBatch(ctx, []*sarama.ConsumerMessage{e.application("late@example.com", 20)}); err != nil {
		t.Fatal(err)
	}
	es = copiedLog(t, e)
	if len(es) != 6 || es[5].Offset != 20 || es[5].Status != "FAILURE" {
		t.Fatalf("after the re-decided batch: %+v", es[len(es)-1])
	}

	// Redis loses the copy: it comes back whole from MySQL.
	e.rdb.Del(ctx, redisx.KeysFor(e.eventID).Log)
	if err := pub.Sync(ctx, e.eventID); err != nil {
		t.Fatal(err)
	}
	again := copiedLog(t, e)
	if len(again) != 6 || again[5].Hash != es[5].Hash {
		t.Fatalf("restored copy has %d entries, head %s; want 6 ending %s", len(again), again[len(again)-1].Hash, es[5].Hash)
	}
}

// TestAdminChangesAreLoggedOnceAndTheLogFreezesAfterClose: stock and window
// changes are logged when they apply (an older or redelivered one is not);
// once the window closed the freeze entry is appended, once.
func TestAdminChangesAreLoggedOnceAndTheLogFreezesAfterClose(t *testing.T) {
	e := newEnv(t)
	pub := withLog(t, e)
	ctx := context.Background()
	steps := []func() error{
		func() error { return e.service.SetStock(ctx, e.eventID, 5, 2) },
		func() error { return e.service.SetStock(ctx, e.eventID, 5, 2) }, // redelivered
		func() error { return e.service.SetStock(ctx, e.eventID, 9, 1) }, // older
		func() error { return e.service.SetStock(ctx, e.eventID, 7, 3) },
		func() error {
			return e.service.SetWindow(ctx, e.eventID, time.Now().Add(-time.Hour), time.Now().Add(-time.Minute), 1)
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	es := copiedLog(t, e)
	if len(es) != 3 || es[0].Stock != 5 || es[1].Stock != 7 || es[1].Version != 3 || es[2].Kind != fairlog.KindWindow {
		t.Fatalf("log = %+v; want stock 5 (v2), stock 7 (v3), the window", es)
	}
	if froze, err := e.repo.FreezeLog(ctx, e.eventID, time.Hour); err != nil || froze {
		t.Fatalf("FreezeLog before the delay = %v, %v; want not yet", froze, err)
	}
	for i, want := range []bool{true, false} {
		froze, err := e.repo.FreezeLog(ctx, e.eventID, 10*time.Second)
		if err != nil || froze != want {
			t.Fatalf("FreezeLog call %d = %v, %v; want %v", i+1, froze, err, want)
		}
	}
	if err := pub.Sync(ctx, e.eventID); err != nil {
		t.Fatal(err)
	}
	es = copiedLog(t, e)
	if len(es) != 4 || es[3].Kind != fairlog.KindFreeze {
		t.Fatalf("log = %+v; want the freeze entry last", es)
	}
}

// TestEveryDecisionsStockIsLoggedBeforeIt: gateways apply stock changes in
// Redis before stock-consumer persists them, and a change overtaken by a
// newer one is never persisted. The decisions made under such a stock are
// preceded in the log by a stock-seen entry, so a replay of the log finds
// every decision's stock recorded before it.
func TestEveryDecisionsStockIsLoggedBeforeIt(t *testing.T) {
	e := newEnv(t)
	pub := withLog(t, e)
	ctx := context.Background()
	k := redisx.KeysFor(e.eventID)
	e.setStock(1)
	live := func(total, remaining, version int64) {
		t.Helper()
		if err := e.rdb.MSet(ctx, k.Total, total, k.Remaining, remaining, k.StockTotalVersion, version, k.StockVersion, version).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A raise to 3 (version 2), applied in Redis; its message is late.
	live(3, 3, 2)
	e.handleAdmin(e.application("s0@example.com", 1), e.application("s1@example.com", 2))
	// A lowering to 2 (version 3) overtakes it; then a third participant.
	live(2, 0, 3)
	e.handleAdmin(e.application("s2@example.com", 3))
	// The admin messages arrive newest first: version 2 is older and skipped.
	e.handleAdmin(e.stockChange(2, 3, 0), e.stockChange(3, 2, 1))
	if err := pub.Sync(ctx, e.eventID); err != nil {
		t.Fatal(err)
	}
	type step struct {
		kind   fairlog.Kind
		stock  int64
		status string
	}
	want := []step{
		{fairlog.KindStock, 1, ""},
		{fairlog.KindStockSeen, 3, ""},
		{fairlog.KindDecision, 3, "SUCCESS"},
		{fairlog.KindDecision, 3, "SUCCESS"},
		{fairlog.KindStockSeen, 2, ""},
		{fairlog.KindDecision, 2, "FAILURE"},
		{fairlog.KindStock, 2, ""},
	}
	es := copiedLog(t, e)
	got := make([]step, len(es))
	for i, en := range es {
		got[i] = step{en.Kind, en.Stock, en.Status}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log = %v\nwant  %v", got, want)
	}
	// A later batch under the logged stock adds no stock-seen entry.
	live(4, 2, 4)
	e.handleAdmin(e.stockChange(4, 4, 2))
	e.handleAdmin(e.application("s3@example.com", 4))
	if err := pub.Sync(ctx, e.eventID); err != nil {
		t.Fatal(err)
	}
	es = copiedLog(t, e)
	if n := len(es); n != len(want)+2 || es[n-2].Kind != fairlog.KindStock || es[n-1].Kind != fairlog.KindDecision || es[n-1].Stock != 4 {
		t.Fatalf("after a change logged before its decisions: %+v", es[len(want):])
	}
}
