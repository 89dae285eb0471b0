//go:build !fuzzing

package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/pkg/token"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admin"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ledger"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ports/httpapi"
)

const adminKey = "test-admin-key-0123456789abcdef"

type gateway struct {
	t         *testing.T
	srv       *httptest.Server
	codec     *token.Codec
	rdb       *redis.Client
	eventID   string
	brokers   []string
	appsTopic string
	admTopic  string
}

// newGateway wires the gateway like main does, against real Redis and Kafka,
// with its own event id and topics. appsTopic may name a topic that does not
// exist, to exercise the broker-failure path.
func newGateway(t *testing.T, missingTopic bool) *gateway {
	t.Helper()
	return newGatewayFull(t, gatewayOptions{missingTopic: missingTopic})
}

// newGatewayWithoutState is newGateway for an event stock-consumer has not
// loaded (or Redis lost).
func newGatewayWithoutState(t *testing.T) *gateway {
	t.Helper()
	return newGatewayFull(t, gatewayOptions{withoutState: true})
}

// newGatewayWithLog is newGateway with the given logger (the log scan).
func newGatewayWithLog(t *testing.T, missingTopic bool, log *slog.Logger) *gateway {
	t.Helper()
	return newGatewayFull(t, gatewayOptions{missingTopic: missingTopic, log: log})
}

// gatewayOptions vary the wiring of a test gateway.
type gatewayOptions struct {
	// missingTopic and missingAdminTopic name topics that do not exist, so
	// those publishes fail.
	missingTopic, missingAdminTopic bool
	withoutState                    bool
	log                             *slog.Logger
	// wrap, when set, wraps the applications' announcer (to hold a publish).
	wrap func(admission.Announcer) admission.Announcer
	// replicaOf makes a second gateway of the same event, Redis and topics.
	replicaOf *gateway
	// signer, when set, signs receipts and serves the decision log.
	signer *fairlog.Signer
}

func newGatewayFull(t *testing.T, o gatewayOptions) *gateway {
	t.Helper()
	log := o.log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g := &gateway{t: t, rdb: testinfra.Redis(t), eventID: testinfra.UniqueName("ev-"), brokers: testinfra.KafkaBrokers(t)}
	if o.replicaOf != nil {
		g.eventID, g.appsTopic, g.admTopic = o.replicaOf.eventID, o.replicaOf.appsTopic, o.replicaOf.admTopic
	} else {
		g.appsTopic = testinfra.KafkaTopic(t, g.brokers, "t-apps-", 1)
		g.admTopic = testinfra.KafkaTopic(t, g.brokers, "t-adm-", 1)
	}
	if o.missingTopic {
		g.appsTopic = testinfra.UniqueName("t-missing-")
	}
	if o.missingAdminTopic {
		g.admTopic = testinfra.UniqueName("t-missing-")
	}
	reg := prometheus.NewRegistry()
	ctx := context.Background()
	st, err := redisstore.NewRedis(ctx, g.rdb, g.eventID)
	if err != nil {
		t.Fatal(err)
	}
	producer, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: g.brokers, ClientID: "t", Linger: time.Millisecond, MaxBatch: 100, Retries: 1}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	brk := kafkapub.New(producer, g.eventID, "test", g.appsTopic, g.admTopic)
	var apps admission.Announcer = brk
	if o.wrap != nil {
		apps = o.wrap(brk)
	}
	cfg := admission.Config{EventID: g.eventID, Grace: 3 * time.Second, PublishTimeout: 2 * time.Second, MaxInFlight: 1000}
	if o.signer != nil {
		cfg.Notary = o.signer
		cfg.Participant = func(email string) string { return fairlog.Participant(testSalt, g.eventID, email) }
	}
	applier, err := admission.NewService(cfg, st, apps, uuid.NewString)
	if err != nil {
		t.Fatal(err)
	}
	g.codec, err = token.New(token.Config{Current: token.Key{ID: "k1", Secret: []byte(strings.Repeat("s3cr3t-", 6))}, Issuer: "iss", Audience: "aud", TTL: time.Minute, Event: g.eventID})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpserver.New(httpserver.DefaultConfig("127.0.0.1:0"), log, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := httpapi.NewHandlers(applier, admin.NewService(admin.Config{PublishTimeout: 2 * time.Second}, st, brk), g.codec, adminKey, log)
	if o.signer != nil {
		evidence, err := ledger.NewService(g.eventID, st, o.signer)
		if err != nil {
			t.Fatal(err)
		}
		h.WithLedger(evidence)
	}
	h.Register(srv.Engine())
	g.srv = httptest.NewServer(srv.Handler())
	t.Cleanup(g.srv.Close)
	if o.replicaOf != nil {
		return g
	}
	// stock-consumer marks a loaded event "ready"; without it nothing is admitted.
	if !o.withoutState {
		g.rdb.Set(ctx, redisx.KeysFor(g.eventID).State, "ready", 0)
	}
	t.Cleanup(func() {
		k := redisx.KeysFor(g.eventID)
		g.rdb.Del(context.Background(), k.Total, k.Remaining, k.Winners, k.Losers, k.Decisions, k.DecidedAt, k.Applied, k.SoldOut, k.Window, k.State, k.Unsettled,
			k.StockVersion, k.StockPending, k.Log, k.Receipts)
	})
	return g
}

type envelope struct {
	Status  int             `json:"status"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Result  json.RawMessage `json:"result"`
}

// reply is what a test needs of a response; the body is read and closed in do.
type reply struct {
	StatusCode int
	Header     http.Header
}

func (g *gateway) do(method, path, body string, header map[string]string) (reply, envelope) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.srv.URL+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var env envelope
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &env); err != nil {
		g.t.Fatalf("%s %s: body is not the JSON envelope: %q", method, path, raw)
	}
	if env.Status != resp.StatusCode {
		g.t.Fatalf("%s %s: envelope status %d != HTTP %d", method, path, env.Status, resp.StatusCode)
	}
	return reply{StatusCode: resp.StatusCode, Header: resp.Header}, env
}

func (g *gateway) bearer(email string) map[string]string {
	tok, err := g.codec.Mint(email, time.Now())
	if err != nil {
		g.t.Fatal(err)
	}
	return map[string]string{"Authorization": "Bearer " + tok}
}

func (g *gateway) setStock(n int) {
	g.t.Helper()
	resp, env := g.do("POST", "/api/admin/event/stock", fmt.Sprintf(`{"count":%d}`, n), map[string]string{"X-ADMIN-KEY": adminKey})
	if resp.StatusCode != 200 {
		g.t.Fatalf("set stock: %d %s", resp.StatusCode, env.Code)
	}
}

func expect(t *testing.T, resp reply, env envelope, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || env.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, env.Code, env.Message, status, code)
	}
}

func TestApplyPublishesOnceAndRejectsDuplicates(t *testing.T) {
	g := newGateway(t, false)
	g.setStock(10)
	me := g.bearer("alice@example.com")

	resp, env := g.do("POST", "/api/event/apply", "", me)
	expect(t, resp, env, http.StatusAccepted, "OK")
	if string(env.Result) != `{"status":"PENDING"}` {
		t.Fatalf("result = %s", env.Result)
	}
	if n, _ := g.rdb.ZCard(context.Background(), redisx.KeysFor(g.eventID).Unsettled).Result(); n != 0 {
		t.Fatalf("a published admission is still unsettled (%d)", n)
	}
	resp, env = g.do("POST", "/api/event/apply", "", me)
	expect(t, resp, env, http.StatusConflict, httpapi.CodeAlreadyApplied)
	if !strings.Contains(env.Message, "already applied") {
		t.Fatalf("message %q lacks 'already applied'", env.Message)
	}
	resp, env = g.do("GET", "/api/event/status", "", me)
	expect(t, resp, env, http.StatusOK, "OK")
	if string(env.Result) != `{"status":"PENDING"}` {
		t.Fatalf("status result = %s", env.Result)
	}
	resp, env = g.do("GET", "/api/event/status", "", g.bearer("nobody@example.com"))
	expect(t, resp, env, http.StatusNotFound, httpapi.CodeApplicationNotFound)

	// Exactly one message reached Kafka, carrying the email as key.
	msgs := testinfra.ReadUntilIdle(t, g.brokers, g.appsTopic, 2*time.Second)
	if len(msgs) != 1 || string(msgs[0].Key) != "alice@example.com" {
		t.Fatalf("kafka got %d messages: %v", len(msgs), msgs)
	}
	var m farewellv1.ApplicationSubmitted
	if err := proto.Unmarshal(msgs[0].Value, &m); err != nil || m.GetEventId() != g.eventID || m.GetSchemaVersion() != 1 {
		t.Fatalf("message = %v (%v)", &m, err)
	}
	// A decision recorded by stock-consumer is what status reports.
	g.rdb.HSet(context.Background(), redisx.KeysFor(g.eventID).Decisions, "alice@example.com", "SUCCESS:1")
	_, env = g.do("GET", "/api/event/status", "", me)
	if string(env.Result) != `{"rank":1,"status":"SUCCESS"}` {
		t.Fatalf("status after decision = %s", env.Result)
	}
}

func TestConcurrentDuplicateAppliesAdmitOnce(t *testing.T) {
	g := newGateway(t, false)
	g.setStock(5)
	me := g.bearer("racer@example.com")
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := g.do("POST", "/api/event/apply", "", me)
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	accepted := 0
	for c := range codes {
		if c == http.StatusAccepted {
			accepted++
		} else if c != http.StatusConflict {
			t.Fatalf("unexpected status %d", c)
		}
	}
	if accepted != 1 {
		t.Fatalf("accepted %d of 20 concurrent duplicates, want 1", accepted)
	}
	if n := len(testinfra.ReadUntilIdle(t, g.brokers, g.appsTopic, 2*time.Second)); n != 1 {
		t.Fatalf("kafka messages = %d, want 1", n)
	}
}

func TestSoldOutAndWindow(t *testing.T) {
	g := newGateway(t, false)
	g.setStock(0)
	resp, env := g.do("POST", "/api/event/apply", "", g.bearer("late@example.com"))
	expect(t, resp, env, http.StatusConflict, httpapi.CodeEventClosed)

	g.setStock(3)
	adminHdr := map[string]string{"X-ADMIN-KEY": adminKey}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	later := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	resp, env = g.do("PUT", "/api/admin/event/window", fmt.Sprintf(`{"opensAt":%q,"closesAt":%q}`, future, later), adminHdr)
	expect(t, resp, env, http.StatusOK, "OK")
	resp, env = g.do("POST", "/api/event/apply", "", g.bearer("early@example.com"))
	expect(t, resp, env, http.StatusForbidden, httpapi.CodeEventNotOpen)
	// Before the window Retry-After counts down to the opening (about an hour).
	if wait, _ := strconv.Atoi(resp.Header.Get("Retry-After")); wait < 3500 || wait > 3601 {
		t.Fatalf("Retry-After before the window = %q, want about 3600", resp.Header.Get("Retry-After"))
	}

	past := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	recent := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	g.do("PUT", "/api/admin/event/window", fmt.Sprintf(`{"opensAt":%q,"closesAt":%q}`, past, recent), adminHdr)
	resp, env = g.do("POST", "/api/event/apply", "", g.bearer("tooLate@example.com"))
	expect(t, resp, env, http.StatusForbidden, httpapi.CodeEventNotOpen)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		t.Fatalf("Retry-After after the window = %q, want none (it will not open again)", ra)
	}

	resp, env = g.do("PUT", "/api/admin/event/window", fmt.Sprintf(`{"opensAt":%q,"closesAt":%q}`, later, future), adminHdr)
	expect(t, resp, env, http.StatusBadRequest, httpapi.CodeInvalidWindow)
	// Nothing was admitted by the refused applications.
	if n, _ := g.rdb.HLen(context.Background(), redisx.KeysFor(g.eventID).Applied).Result(); n != 0 {
		t.Fatalf("applied markers = %d, want 0", n)
	}
}

func TestNoLiveStateAnswers503(t *testing.T) {
	g := newGatewayWithoutState(t)
	resp, env := g.do("POST", "/api/event/apply", "", g.bearer("early@example.com"))
	expect(t, resp, env, http.StatusServiceUnavailable, httpserver.CodeUnavailable)
	// Setting the stock on an empty Redis would forget the winners so far.
	resp, env = g.do("POST", "/api/admin/event/stock", `{"count":5}`, map[string]string{"X-ADMIN-KEY": adminKey})
	expect(t, resp, env, http.StatusServiceUnavailable, httpserver.CodeUnavailable)
	if v, _ := g.rdb.Get(context.Background(), redisx.KeysFor(g.eventID).Total).Result(); v != "" {
		t.Fatalf("total recreated on an empty Redis: %q", v)
	}
	if n, _ := g.rdb.HLen(context.Background(), redisx.KeysFor(g.eventID).Applied).Result(); n != 0 {
		t.Fatalf("admitted %d applications without live state", n)
	}
}

func TestBrokerFailureAnswers503AndLeavesNothing(t *testing.T) {
	g := newGateway(t, true)
	g.setStock(3)
	resp, env := g.do("POST", "/api/event/apply", "", g.bearer("unlucky@example.com"))
	expect(t, resp, env, http.StatusServiceUnavailable, httpserver.CodeUnavailable)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if n, _ := g.rdb.HLen(context.Background(), redisx.KeysFor(g.eventID).Applied).Result(); n != 0 {
		t.Fatalf("admission marker left behind after failed publish: %d", n)
	}
}

func TestAuthAndAdminErrors(t *testing.T) {
	g := newGateway(t, false)
	other, _ := token.New(token.Config{Current: token.Key{ID: "k1", Secret: []byte(strings.Repeat("other-k", 6))}, Issuer: "iss", Audience: "aud", TTL: time.Minute, Event: g.eventID})
	forged, _ := other.Mint("mallory@example.com", time.Now())
	// Signed with the gateway's own key, but for another event.
	elsewhere, _ := token.New(token.Config{Current: token.Key{ID: "k1", Secret: []byte(strings.Repeat("s3cr3t-", 6))}, Issuer: "iss", Audience: "aud", TTL: time.Minute, Event: g.eventID + "-other"})
	otherEvent, _ := elsewhere.Mint("alice@example.com", time.Now())
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		header map[string]string
		status int
		code   string
	}{
		{"no token", "POST", "/api/event/apply", "", nil, 401, httpserver.CodeUnauthorized},
		{"no bearer prefix", "POST", "/api/event/apply", "", map[string]string{"Authorization": forged}, 401, httpserver.CodeUnauthorized},
		{"wrong key", "POST", "/api/event/apply", "", map[string]string{"Authorization": "Bearer " + forged}, 401, httpapi.CodeInvalidToken},
		{"garbage token", "GET", "/api/event/status", "", map[string]string{"Authorization": "Bearer abc.def.ghi"}, 401, httpapi.CodeInvalidToken},
		{"token for another event", "POST", "/api/event/apply", "", map[string]string{"Authorization": "Bearer " + otherEvent}, 401, httpapi.CodeInvalidToken},
		{"missing admin key", "GET", "/api/admin/event", "", nil, 403, httpapi.CodeInvalidAdminKey},
		{"wrong admin key", "POST", "/api/admin/event/stock", `{"count":5}`, map[string]string{"X-ADMIN-KEY": "nope"}, 403, httpapi.CodeInvalidAdminKey},
		{"negative stock", "POST", "/api/admin/event/stock", `{"count":-1}`, map[string]string{"X-ADMIN-KEY": adminKey}, 400, httpapi.CodeInvalidStock},
		{"fractional stock", "POST", "/api/admin/event/stock", `{"count":1.5}`, map[string]string{"X-ADMIN-KEY": adminKey}, 400, httpapi.CodeInvalidStock},
		{"huge stock", "POST", "/api/admin/event/stock", `{"count":99999999999}`, map[string]string{"X-ADMIN-KEY": adminKey}, 400, httpapi.CodeInvalidStock},
		{"string stock", "POST", "/api/admin/event/stock", `{"count":"5"}`, map[string]string{"X-ADMIN-KEY": adminKey}, 400, httpapi.CodeInvalidStock},
		{"exponent stock", "POST", "/api/admin/event/stock", `{"count":1e3}`, map[string]string{"X-ADMIN-KEY": adminKey}, 400, httpapi.CodeInvalidStock},
		{"wrong content type", "POST", "/api/admin/event/stock", `{"count":1}`, map[string]string{"X-ADMIN-KEY": adminKey, "Content-Type": "text/plain"}, 415, httpserver.CodeUnsupportedMediaType},
		{"oversized body", "POST", "/api/admin/event/stock", `{"count":1,"pad":"` + strings.Repeat("x", 20000) + `"}`, map[string]string{"X-ADMIN-KEY": adminKey}, 413, httpserver.CodePayloadTooLarge},
		{"missing count", "POST", "/api/admin/event/stock", `{}`, map[string]string{"X-ADMIN-KEY": adminKey}, 400, httpapi.CodeInvalidStock},
		{"empty body", "POST", "/api/admin/event/stock", ``, map[string]string{"X-ADMIN-KEY": adminKey}, 400, httpserver.CodeInvalidJSON},
		{"unknown field", "POST", "/api/admin/event/stock", `{"count":1,"x":2}`, map[string]string{"X-ADMIN-KEY": adminKey}, 400, httpserver.CodeInvalidJSON},
		{"unknown path", "GET", "/api/event/nope", "", nil, 404, httpserver.CodeNotFound},
		{"wrong method", "DELETE", "/api/event/apply", "", nil, 405, httpserver.CodeMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, env := g.do(tt.method, tt.path, tt.body, tt.header)
			expect(t, resp, env, tt.status, tt.code)
		})
	}
	// None of the refused admin calls changed the stock.
	if v, _ := g.rdb.Get(context.Background(), redisx.KeysFor(g.eventID).Total).Result(); v != "" {
		t.Fatalf("stock changed to %q by a refused request", v)
	}
}

func TestAdminStockAndFigures(t *testing.T) {
	g := newGateway(t, false)
	adminHdr := map[string]string{"X-ADMIN-KEY": adminKey}
	resp, env := g.do("POST", "/api/admin/event/stock", `{"count":4}`, adminHdr)
	expect(t, resp, env, 200, "OK")
	var set struct {
		Message string `json:"message"`
		Stock   int64  `json:"stock"`
	}
	_ = json.Unmarshal(env.Result, &set)
	if set.Stock != 4 || set.Message == "" {
		t.Fatalf("set stock result = %s", env.Result)
	}
	g.do("POST", "/api/event/apply", "", g.bearer("a@example.com"))
	// Pretend stock-consumer decided one winner; lowering the stock keeps it.
	k := redisx.KeysFor(g.eventID)
	ctx := context.Background()
	g.rdb.HSet(ctx, k.Decisions, "a@example.com", "SUCCESS:1")
	g.rdb.Incr(ctx, k.Winners)
	g.rdb.Decr(ctx, k.Remaining)
	g.do("POST", "/api/admin/event/stock", `{"count":2}`, adminHdr)
	_, env = g.do("GET", "/api/admin/event", "", adminHdr)
	var st struct {
		Total, Remaining, Winners, Pending int64
		SoldOut                            bool
	}
	_ = json.Unmarshal(env.Result, &st)
	if st.Total != 2 || st.Remaining != 1 || st.Winners != 1 || st.Pending != 0 || st.SoldOut {
		t.Fatalf("figures = %+v (%s)", st, env.Result)
	}
	// Both stock changes were announced for stock-consumer to persist.
	if n := len(testinfra.ReadUntilIdle(t, g.brokers, g.admTopic, 2*time.Second)); n != 2 {
		t.Fatalf("admin messages = %d, want 2", n)
	}
}

// TestWinnersExportStreamsEveryWinner writes decisions the way stock-consumer
// does (decisions hash, decision times beside it), several HSCAN pages of
// them, and checks the CSV has every winner once with its rank and time, and
// no loser.
func TestWinnersExportStreamsEveryWinner(t *testing.T) {
	g := newGateway(t, false)
	ctx := context.Background()
	k := redisx.KeysFor(g.eventID)
	const winners, losers = 2500, 700
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := map[string]string{}
	pipe := g.rdb.Pipeline()
	for i := 1; i <= winners+losers; i++ {
		email := fmt.Sprintf("p%05d@example.com", i)
		at := base.Add(time.Duration(i) * time.Millisecond)
		d := "FAILURE:0"
		if i <= winners {
			d = "SUCCESS:" + strconv.Itoa(i)
			want[email] = strconv.Itoa(i) + "," + email + "," + at.Format(time.RFC3339Nano)
		}
		pipe.HSet(ctx, k.Decisions, email, d)
		if i != 1 { // one winner decided before decision times were kept
			pipe.HSet(ctx, k.DecidedAt, email, at.UnixMilli())
		}
	}
	want["p00001@example.com"] = "1,p00001@example.com,"
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/api/admin/event/winners", nil)
	req.Header.Set("X-ADMIN-KEY", adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength != -1 {
		t.Fatalf("export sent Content-Length %d: the body was built before it was sent", resp.ContentLength)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if lines[0] != "rank,email,decidedAt" {
		t.Fatalf("header line = %q", lines[0])
	}
	seen := map[string]bool{}
	for _, line := range lines[1:] {
		email := strings.Split(line, ",")[1]
		if want[email] != line {
			t.Fatalf("row %q, want %q", line, want[email])
		}
		if seen[email] {
			t.Fatalf("%s exported twice", email)
		}
		seen[email] = true
	}
	if len(seen) != winners {
		t.Fatalf("exported %d winners, want %d", len(seen), winners)
	}

	if r, env := g.do(http.MethodGet, "/api/admin/event/winners", "", nil); r.StatusCode != http.StatusForbidden || env.Code != "INVALID_ADMIN_KEY" {
		t.Fatalf("export without the key: %d %s", r.StatusCode, env.Code)
	}
}

// TestOneMailboxAppliesOnce: two tokens for one participant identity
// (the auth service's email policy folded two spellings of one mailbox),
// each carrying the address as typed: the second apply is 409, and the one
// message on Kafka is keyed by the identity and carries the typed address
// of the first for the decision's mail.
func TestOneMailboxAppliesOnce(t *testing.T) {
	g := newGateway(t, false)
	g.setStock(10)
	mint := func(delivery string) map[string]string {
		tok, err := g.codec.MintFor("username@gmail.com", delivery, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"Authorization": "Bearer " + tok}
	}
	resp, env := g.do("POST", "/api/event/apply", "", mint("User.Name+gift@GoogleMail.com"))
	expect(t, resp, env, http.StatusAccepted, "OK")
	resp, env = g.do("POST", "/api/event/apply", "", mint("u.sername@gmail.com"))
	expect(t, resp, env, http.StatusConflict, httpapi.CodeAlreadyApplied)

	msgs := testinfra.ReadUntilIdle(t, g.brokers, g.appsTopic, 2*time.Second)
	if len(msgs) != 1 || string(msgs[0].Key) != "username@gmail.com" {
		t.Fatalf("kafka got %d messages: %v", len(msgs), msgs)
	}
	var m farewellv1.ApplicationSubmitted
	if err := proto.Unmarshal(msgs[0].Value, &m); err != nil || m.GetEmail() != "username@gmail.com" || m.GetDeliveryEmail() != "User.Name+gift@GoogleMail.com" {
		t.Fatalf("message = %v (%v), want the identity and the typed address", &m, err)
	}
}
