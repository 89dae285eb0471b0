//go:build !fuzzing

package consumer_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
)

// TestDecideScriptDecidesABatchInOrder runs decide.lua on the real Redis: in
// one batch a decision made before is replayed, a duplicate sees the
// decision made earlier in the same batch, winners take ranks in order
// until the stock is gone and everyone after loses; counters, the sold-out
// flag, decision times and admission markers (an existing one is kept) end
// as one command per application would leave them, and the batch's
// participants leave the unsettled set. A batch larger than the script's
// chunks is decided the same way.
func TestDecideScriptDecidesABatchInOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k := redisx.KeysFor(e.eventID)
	e.setStock(3)
	decide := func(emails ...string) decision.Decided {
		t.Helper()
		apps := make([]decision.Application, len(emails))
		for i, m := range emails {
			apps[i] = decision.Application{EventID: e.eventID, Email: m}
		}
		w, err := e.repo.Watermark(ctx, e.eventID)
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.decider.Decide(ctx, e.eventID, apps, w)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	got := func(d decision.Decided) string {
		var parts []string
		for _, x := range d.Decisions {
			parts = append(parts, fmt.Sprintf("%s:%s:%d:%v", x.Email, x.Status, x.Rank, x.New))
		}
		return strings.Join(parts, " ")
	}

	if d := decide("old@x"); got(d) != "old@x:SUCCESS:1:true" {
		t.Fatalf("first batch: %s", got(d))
	}
	if err := e.rdb.HSet(ctx, k.Applied, "a@x", "A:123").Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.ZAdd(ctx, k.Unsettled, redis.Z{Score: 1, Member: "a@x"}, redis.Z{Score: 1, Member: "b@x"}, redis.Z{Score: 1, Member: "z@x"}).Err(); err != nil {
		t.Fatal(err)
	}
	d := decide("a@x", "old@x", "b@x", "a@x", "c@x", "d@x", "c@x")
	want := "a@x:SUCCESS:2:true old@x:SUCCESS:1:false b@x:SUCCESS:3:true a@x:SUCCESS:2:false c@x:FAILURE:0:true d@x:FAILURE:0:true c@x:FAILURE:0:false"
	if got(d) != want {
		t.Fatalf("batch decided\n%s\nwant\n%s", got(d), want)
	}
	if d.Decisions[0].Stock != 3 {
		t.Fatalf("decided under stock %d, want 3", d.Decisions[0].Stock)
	}
	counters, err := e.rdb.MGet(ctx, k.Remaining, k.Winners, k.Losers, k.SoldOut).Result()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(counters) != "[0 3 2 1]" {
		t.Fatalf("remaining, winners, losers, sold out = %v, want [0 3 2 1]", counters)
	}
	applied, _ := e.rdb.HGetAll(ctx, k.Applied).Result()
	at, _ := e.rdb.HGetAll(ctx, k.DecidedAt).Result()
	now := strconv.FormatInt(d.Decisions[0].DecidedAt.UnixMilli(), 10)
	for _, m := range []string{"b@x", "c@x", "d@x"} {
		if applied[m] != "P:"+now || at[m] != now {
			t.Fatalf("%s: admission marker %q, decided at %q; want P:%s and %s", m, applied[m], at[m], now, now)
		}
	}
	if applied["a@x"] != "A:123" || at["a@x"] != now {
		t.Fatalf("a@x: admission marker %q (want the gateway's A:123 kept), decided at %q", applied["a@x"], at["a@x"])
	}
	if left, _ := e.rdb.ZRange(ctx, k.Unsettled, 0, -1).Result(); fmt.Sprint(left) != "[z@x]" {
		t.Fatalf("unsettled after the batch = %v, want [z@x] (not in the batch)", left)
	}

	// More than a chunk, with the stock left for part of it.
	e2 := newEnv(t)
	e = e2
	k = redisx.KeysFor(e.eventID)
	e.setStock(1500)
	var emails []string
	for i := 0; i < 2500; i++ {
		emails = append(emails, fmt.Sprintf("p%04d@x", i))
	}
	d = decide(append(emails, emails[:10]...)...)
	for i, x := range d.Decisions {
		wantStatus, wantRank, wantNew := decision.Success, int64(i%2500+1), i < 2500
		if i%2500 >= 1500 {
			wantStatus, wantRank = decision.Failure, 0
		}
		if x.Status != wantStatus || x.Rank != wantRank || x.New != wantNew {
			t.Fatalf("application %d (%s): %s rank %d new %v, want %s rank %d new %v", i, x.Email, x.Status, x.Rank, x.New, wantStatus, wantRank, wantNew)
		}
	}
	if n, _ := e.rdb.HLen(ctx, k.Decisions).Result(); n != 2500 {
		t.Fatalf("%d decisions stored, want 2500", n)
	}
	if n, _ := e.rdb.HLen(ctx, k.Applied).Result(); n != 2500 {
		t.Fatalf("%d admission markers, want 2500", n)
	}
	counters, _ = e.rdb.MGet(ctx, k.Remaining, k.Winners, k.Losers, k.SoldOut).Result()
	if fmt.Sprint(counters) != "[0 1500 1000 1]" {
		t.Fatalf("remaining, winners, losers, sold out = %v, want [0 1500 1000 1]", counters)
	}
}
