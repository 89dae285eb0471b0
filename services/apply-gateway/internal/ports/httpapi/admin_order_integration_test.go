//go:build !fuzzing

package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ports/httpapi"
)

var adminHeader = map[string]string{"X-ADMIN-KEY": adminKey}

// adminChanges reads the admin topic and decodes every message.
func (g *gateway) adminChanges(idle time.Duration) []*farewellv1.EventAdminChanged {
	g.t.Helper()
	var out []*farewellv1.EventAdminChanged
	for _, m := range testinfra.ReadUntilIdle(g.t, g.brokers, g.admTopic, idle) {
		var ev farewellv1.EventAdminChanged
		if err := proto.Unmarshal(m.Value, &ev); err != nil {
			g.t.Fatalf("admin message: %v", err)
		}
		out = append(out, &ev)
	}
	return out
}

func (g *gateway) redisInt(key string) int64 {
	g.t.Helper()
	n, _ := g.rdb.Get(context.Background(), key).Int64()
	return n
}

func TestStockBelowWinnersIsRefused(t *testing.T) {
	g := newGateway(t, false)
	g.setStock(4)
	k := redisx.KeysFor(g.eventID)
	ctx := context.Background()
	// Two winners decided by stock-consumer.
	g.rdb.HSet(ctx, k.Decisions, "a@example.com", "SUCCESS:1", "b@example.com", "SUCCESS:2")
	g.rdb.IncrBy(ctx, k.Winners, 2)
	g.rdb.DecrBy(ctx, k.Remaining, 2)

	resp, env := g.do("POST", "/api/admin/event/stock", `{"count":1}`, adminHeader)
	expect(t, resp, env, http.StatusBadRequest, httpapi.CodeStockBelowWinners)
	if total, rem := g.redisInt(k.Total), g.redisInt(k.Remaining); total != 4 || rem != 2 {
		t.Fatalf("refused change moved Redis: total %d remaining %d, want 4 and 2", total, rem)
	}
	// Equal to the winners is allowed: sold out, nothing oversold.
	resp, env = g.do("POST", "/api/admin/event/stock", `{"count":2}`, adminHeader)
	expect(t, resp, env, http.StatusOK, "OK")
	if changes := g.adminChanges(2 * time.Second); len(changes) != 2 ||
		changes[0].GetStockSet().GetTotalStock() != 4 || changes[1].GetStockSet().GetTotalStock() != 2 {
		t.Fatalf("admin messages = %v, want the totals 4 and 2 only", changes)
	}
}

func TestWindowOutsideWhatTheStoresHoldIsRefused(t *testing.T) {
	g := newGateway(t, false)
	for _, w := range [][2]string{
		{"0500-01-01T00:00:00Z", "2030-01-01T00:00:00Z"},      // before MySQL's DATETIME range
		{"1969-12-31T23:59:59Z", "2030-01-01T00:00:00Z"},      // Redis would read it as unbounded
		{"1970-01-01T00:00:00Z", "2030-01-01T00:00:00Z"},      // 0 ms: unbounded in Redis
		{"2030-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00"}, // year 10000 in UTC
	} {
		resp, env := g.do("PUT", "/api/admin/event/window", fmt.Sprintf(`{"opensAt":%q,"closesAt":%q}`, w[0], w[1]), adminHeader)
		expect(t, resp, env, http.StatusBadRequest, httpapi.CodeInvalidWindow)
	}
	resp, env := g.do("POST", "/api/admin/event/stock", `{"count":10000001}`, adminHeader)
	expect(t, resp, env, http.StatusBadRequest, httpapi.CodeInvalidStock)
	// The edges themselves are accepted.
	resp, env = g.do("PUT", "/api/admin/event/window", `{"opensAt":"1970-01-01T00:00:01Z","closesAt":"9999-12-31T23:59:59.999Z"}`, adminHeader)
	expect(t, resp, env, http.StatusOK, "OK")
	if n := len(g.adminChanges(2 * time.Second)); n != 1 {
		t.Fatalf("admin messages = %d, want only the accepted window", n)
	}
}

func TestAdminChangeWithoutStatePublishesNothing(t *testing.T) {
	g := newGatewayWithoutState(t)
	resp, env := g.do("POST", "/api/admin/event/stock", `{"count":5}`, adminHeader)
	expect(t, resp, env, http.StatusServiceUnavailable, httpserver.CodeUnavailable)
	resp, env = g.do("PUT", "/api/admin/event/window", `{"opensAt":"2030-01-01T00:00:00Z","closesAt":"2030-01-02T00:00:00Z"}`, adminHeader)
	expect(t, resp, env, http.StatusServiceUnavailable, httpserver.CodeUnavailable)
	// A 503 must change nothing anywhere: nothing for stock-consumer to persist.
	if changes := g.adminChanges(2 * time.Second); len(changes) != 0 {
		t.Fatalf("refused admin changes reached Kafka: %v", changes)
	}
}

func TestFailedAdminPublishUndoesTheLiveChange(t *testing.T) {
	g := newGatewayFull(t, gatewayOptions{missingAdminTopic: true})
	k := redisx.KeysFor(g.eventID)
	ctx := context.Background()
	g.rdb.Set(ctx, k.Total, 3, 0)
	g.rdb.Set(ctx, k.Remaining, 3, 0)
	g.rdb.Set(ctx, k.Winners, 0, 0)
	g.rdb.HSet(ctx, k.Window, "opens_at", 1000, "closes_at", 2000)

	resp, env := g.do("POST", "/api/admin/event/stock", `{"count":7}`, adminHeader)
	expect(t, resp, env, http.StatusServiceUnavailable, httpserver.CodeUnavailable)
	if total, rem := g.redisInt(k.Total), g.redisInt(k.Remaining); total != 3 || rem != 3 {
		t.Fatalf("after a failed publish Redis has total %d remaining %d, want 3 and 3", total, rem)
	}
	if n, _ := g.rdb.Exists(ctx, k.StockPending).Result(); n != 0 {
		t.Fatal("the failed change is still pending")
	}
	resp, env = g.do("PUT", "/api/admin/event/window", `{"opensAt":"2030-01-01T00:00:00Z","closesAt":"2030-01-02T00:00:00Z"}`, adminHeader)
	expect(t, resp, env, http.StatusServiceUnavailable, httpserver.CodeUnavailable)
	if w, _ := g.rdb.HMGet(ctx, k.Window, "opens_at", "closes_at").Result(); w[0] != "1000" || w[1] != "2000" {
		t.Fatalf("after a failed publish the window is %v, want the old one", w)
	}
}

// TestUndoOfAChangeAlreadyPersistedKeepsIt: the publish failed from the
// gateway's point of view (it timed out), yet the broker delivered the
// message and stock-consumer persisted it, marking it applied. The undo
// then keeps the change and the answer is 200, not a 503 for a change
// MySQL recorded. Without the mark the undo marks the change undone, so
// stock-consumer skips the message should it come later.
func TestUndoOfAChangeAlreadyPersistedKeepsIt(t *testing.T) {
	g := newGatewayFull(t, gatewayOptions{missingAdminTopic: true})
	k := redisx.KeysFor(g.eventID)
	ctx := context.Background()
	g.rdb.Set(ctx, k.Total, 3, 0)
	g.rdb.Set(ctx, k.Remaining, 3, 0)
	g.rdb.Set(ctx, k.Winners, 0, 0)
	g.rdb.HSet(ctx, k.Window, "opens_at", 1000, "closes_at", 2000)

	next := g.redisInt(k.StockVersion) + 1
	g.rdb.Set(ctx, redisx.ChangeMark(g.eventID, "stock", next), "applied", time.Hour)
	resp, env := g.do("POST", "/api/admin/event/stock", `{"count":7}`, adminHeader)
	expect(t, resp, env, http.StatusOK, "OK")
	if total, rem := g.redisInt(k.Total), g.redisInt(k.Remaining); total != 7 || rem != 7 {
		t.Fatalf("persisted change was undone: total %d remaining %d, want 7 and 7", total, rem)
	}
	if n, _ := g.rdb.Exists(ctx, k.StockPending).Result(); n != 0 {
		t.Fatal("the persisted change is still pending")
	}
	nextWindow, _ := g.rdb.HGet(ctx, k.Window, "version").Int64()
	g.rdb.Set(ctx, redisx.ChangeMark(g.eventID, "window", nextWindow+1), "applied", time.Hour)
	resp, env = g.do("PUT", "/api/admin/event/window", `{"opensAt":"2030-01-01T00:00:00Z","closesAt":"2030-01-02T00:00:00Z"}`, adminHeader)
	expect(t, resp, env, http.StatusOK, "OK")
	if w, _ := g.rdb.HMGet(ctx, k.Window, "opens_at").Result(); w[0] != "1893456000000" {
		t.Fatalf("persisted window change was undone: opens_at %v", w[0])
	}

	// Not persisted: undone, and marked so.
	resp, env = g.do("POST", "/api/admin/event/stock", `{"count":9}`, adminHeader)
	expect(t, resp, env, http.StatusServiceUnavailable, httpserver.CodeUnavailable)
	if total := g.redisInt(k.Total); total != 7 {
		t.Fatalf("refused change left total %d, want 7", total)
	}
	if m, _ := g.rdb.Get(ctx, redisx.ChangeMark(g.eventID, "stock", next+1)).Result(); m != "undone" {
		t.Fatalf("refused change marked %q, want undone", m)
	}
	if ttl, _ := g.rdb.PTTL(ctx, redisx.ChangeMark(g.eventID, "stock", next+1)).Result(); ttl <= 0 {
		t.Fatalf("change mark without expiry (%v)", ttl)
	}
}

// TestTwoGatewaysChangingStockEndInOneOrder: two replicas change the stock
// at once. Every change answered 200 was published with its own version,
// and the newest version is Redis's total: stock-consumer keeps the highest
// version (TestAdminChangesKeepTheNewestVersion in stock-consumer), so MySQL
// ends with Redis's total whatever order the messages arrive in.
func TestTwoGatewaysChangingStockEndInOneOrder(t *testing.T) {
	a := newGateway(t, false)
	b := newGatewayFull(t, gatewayOptions{replicaOf: a})
	a.setStock(1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[int64]bool{}
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			g := a
			if i%2 == 1 {
				g = b
			}
			n := int64(100 + i)
			for {
				resp, env := g.do("POST", "/api/admin/event/stock", `{"count":`+strconv.FormatInt(n, 10)+`}`, adminHeader)
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					accepted[n] = true
					mu.Unlock()
					return
				}
				if resp.StatusCode != http.StatusServiceUnavailable || env.Code != httpapi.CodeStockChangeInProgress || resp.Header.Get("Retry-After") == "" {
					t.Errorf("stock %d: %d %s", n, resp.StatusCode, env.Code)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}(i)
	}
	wg.Wait()
	changes := a.adminChanges(2 * time.Second)
	if len(changes) != 41 {
		t.Fatalf("admin messages = %d, want 41 (one per accepted change)", len(changes))
	}
	versions := map[int64]int64{}
	var newest *farewellv1.StockSet
	for _, c := range changes {
		s := c.GetStockSet()
		if _, dup := versions[s.GetVersion()]; dup || s.GetVersion() <= 0 {
			t.Fatalf("version %d used twice or not set", s.GetVersion())
		}
		versions[s.GetVersion()] = s.GetTotalStock()
		if newest == nil || s.GetVersion() > newest.GetVersion() {
			newest = s
		}
	}
	k := redisx.KeysFor(a.eventID)
	if total := a.redisInt(k.Total); total != newest.GetTotalStock() {
		t.Fatalf("Redis total %d, newest published change %d (v%d)", total, newest.GetTotalStock(), newest.GetVersion())
	}
	if v := a.redisInt(k.StockVersion); v != newest.GetVersion() {
		t.Fatalf("Redis stock version %d, newest published %d", v, newest.GetVersion())
	}
	if len(accepted) != 40 {
		t.Fatalf("accepted %d of 40 changes", len(accepted))
	}
}
