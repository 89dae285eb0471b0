//go:build !fuzzing

package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
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

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/pkg/token"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/auth/internal/adapters/kafkapub"
	"github.com/terning-farewell/farewell/services/auth/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/auth/internal/codes"
	"github.com/terning-farewell/farewell/services/auth/internal/ports/httpapi"
	"github.com/terning-farewell/farewell/services/auth/internal/verification"
)

// testEvent is the event the test tokens are minted for.
const testEvent = "final-gift"

// testAuth is the auth service wired to the real Redis and Kafka, with its
// own codes topic.
type testAuth struct {
	handler  http.Handler
	rdb      *redis.Client
	brokers  []string
	topic    string
	producer *kafka.Producer
	hasher   codes.Hasher
	codec    *token.Codec
	reg      *prometheus.Registry
	codes    *topicReader
}

type options struct {
	cooldown      time.Duration
	hourlyLimit   int
	ipLimit       int
	ipVerifyLimit int
	addressLimit  int
	addressWindow time.Duration
	policy        codes.Policy
	closeProducer bool
	// log, when set, replaces the silent logger (the log-scan test).
	log *slog.Logger
}

func defaults() options {
	return options{cooldown: time.Second, hourlyLimit: 5, ipLimit: 30, ipVerifyLimit: 60,
		addressLimit: 100, addressWindow: time.Minute, policy: codes.PolicyMailbox}
}

func newTestAuth(t *testing.T, o options) *testAuth {
	t.Helper()
	ctx := context.Background()
	rdb := testinfra.Redis(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.KafkaTopic(t, brokers, "test-auth-codes-", 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.log != nil {
		log = o.log
	}
	reg := prometheus.NewRegistry()

	producer, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: brokers, ClientID: "auth-test", Linger: 2 * time.Millisecond}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	if o.closeProducer {
		_ = producer.Close()
	}
	codeTTL := 5 * time.Minute
	st, err := redisstore.New(ctx, rdb, redisstore.Limits{
		CodeTTL: codeTTL, ResendCooldown: o.cooldown, HourlyLimit: o.hourlyLimit, MaxAttempts: 5,
		IPRequestLimit: o.ipLimit, IPVerifyLimit: o.ipVerifyLimit, IPWindow: time.Minute,
		AddressLimit: o.addressLimit, AddressWindow: o.addressWindow,
	})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := token.New(token.Config{
		Current: token.Key{ID: "test", Secret: []byte("t0k3n-s3cr3t-for-tests-0123456789abcdef")},
		Issuer:  "farewell-auth", Audience: "farewell-event", TTL: 10 * time.Minute, Event: testEvent,
	})
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := codes.NewHasher([]byte("c0d3-s3cr3t-for-tests-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := verification.New(st, kafkapub.New(producer, topic), codec, hasher, verification.Settings{
		CodeTTL: codeTTL, ResendCooldown: o.cooldown, MaxAttempts: 5, PublishTimeout: 5 * time.Second, Policy: o.policy,
	}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpserver.New(httpserver.DefaultConfig("127.0.0.1:0"), log, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := httpapi.Mount(srv.Engine(), svc, log, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	return &testAuth{
		handler: srv.Handler(), rdb: rdb, brokers: brokers, topic: topic, producer: producer,
		hasher: hasher, codec: codec, reg: reg, codes: newTopicReader(t, brokers, topic),
	}
}

// response is a decoded API answer.
type response struct {
	status     int
	retryAfter string
	raw        string
	env        struct {
		Status  int             `json:"status"`
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Result  json.RawMessage `json:"result"`
	}
}

func (a *testAuth) post(t *testing.T, path, ip string, body any) response {
	t.Helper()
	r, err := a.do(path, ip, "", body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (a *testAuth) postWithForwardedFor(t *testing.T, path, ip, forwarded string, body any) response {
	t.Helper()
	r, err := a.do(path, ip, forwarded, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// do sends one request from ip; it is safe to call from any goroutine.
func (a *testAuth) do(path, ip, forwarded string, body any) (response, error) {
	var buf []byte
	switch b := body.(type) {
	case string:
		buf = []byte(b)
	default:
		var err error
		if buf, err = json.Marshal(b); err != nil {
			return response{}, err
		}
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(buf))
	req.Header.Set("Content-Type", "application/json")
	if forwarded != "" {
		req.Header.Set("X-Forwarded-For", forwarded)
	}
	req.RemoteAddr = ip + ":40000"
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	r := response{status: rec.Code, retryAfter: rec.Header().Get("Retry-After"), raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &r.env); err != nil {
		return r, fmt.Errorf("POST %s: body is not the JSON envelope: %q", path, r.raw)
	}
	if r.env.Status != r.status {
		return r, fmt.Errorf("POST %s: envelope status %d != HTTP %d", path, r.env.Status, r.status)
	}
	return r, nil
}

func (r response) expect(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.env.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", r.status, r.env.Code, r.raw, status, code)
	}
}

func sendBody(email string) map[string]string { return map[string]string{"email": email} }

func verifyBody(email, code string) map[string]string {
	return map[string]string{"email": email, "code": code}
}

// uniqueIP returns a random address in 10.0.0.0/8 so per-IP counters of
// different tests never meet.
func uniqueIP() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("10.%d.%d.%d", b[0], b[1], b[2])
}

func uniqueEmail() string { return testinfra.UniqueName("user-") + "@example.com" }

func wrongCode(code string) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (n+1)%1_000_000)
}

// nextCodeRequest reads the next message from the codes topic and checks
// its envelope fields.
func (a *testAuth) nextCodeRequest(t *testing.T, wantEmail string) *farewellv1.VerificationCodeRequested {
	t.Helper()
	msg := a.codes.next(t)
	if string(msg.Key) != wantEmail {
		t.Fatalf("kafka key = %q, want %q", msg.Key, wantEmail)
	}
	var ev farewellv1.VerificationCodeRequested
	if err := proto.Unmarshal(msg.Value, &ev); err != nil {
		t.Fatalf("decode VerificationCodeRequested: %v", err)
	}
	if ev.GetSchemaVersion() != 1 || ev.GetEmail() != wantEmail {
		t.Fatalf("message schema %d email %q, want 1 %q", ev.GetSchemaVersion(), ev.GetEmail(), wantEmail)
	}
	if err := codes.ValidateCode(ev.GetCode()); err != nil {
		t.Fatalf("published code %q: %v", ev.GetCode(), err)
	}
	if _, err := uuid.Parse(ev.GetRequestId()); err != nil {
		t.Fatalf("request_id %q is not a uuid", ev.GetRequestId())
	}
	if got := ev.GetExpiresAtUnixMs() - ev.GetRequestedAtUnixMs(); got != (5 * time.Minute).Milliseconds() {
		t.Fatalf("code lifetime %d ms, want 5m", got)
	}
	return &ev
}

func TestCodeLifecycle(t *testing.T) {
	t.Parallel()
	a := newTestAuth(t, defaults())
	ip := uniqueIP()
	email := uniqueEmail()
	mixedCase := strings.ToUpper(email[:1]) + email[1:len(email)-len("example.com")] + "Example.COM"

	// 1. A code is issued for the normalized email, published, and stored
	// only as its HMAC.
	r := a.post(t, sendPath, ip, sendBody("  "+mixedCase+" "))
	r.expect(t, http.StatusOK, httpserver.CodeOK)
	if r.env.Message != "인증 코드가 발송되었습니다." || !strings.Contains(r.raw, `"result":null`) {
		t.Fatalf("success body = %s", r.raw)
	}
	first := a.nextCodeRequest(t, mixedCase) // mailed to the address as typed
	stored := a.rdb.HGetAll(context.Background(), redisstore.CodeKey(email, ip)).Val()
	if stored["hmac"] != a.hasher.Sum(email, first.GetCode()) || stored["attempts"] != "0" {
		t.Fatalf("stored code = %v, want the HMAC of the published code and 0 attempts", stored)
	}
	for field, v := range stored {
		if strings.Contains(v, first.GetCode()) {
			t.Fatalf("field %s stores the plaintext code", field)
		}
	}
	if ttl := a.rdb.PTTL(context.Background(), redisstore.CodeKey(email, ip)).Val(); ttl <= 4*time.Minute || ttl > 5*time.Minute {
		t.Fatalf("code TTL = %s, want about 5m", ttl)
	}

	// 2. A resend inside the cooldown is refused with Retry-After.
	r = a.post(t, sendPath, ip, sendBody(email))
	r.expect(t, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)
	if r.retryAfter != "1" {
		t.Fatalf("Retry-After = %q, want 1 (1s cooldown)", r.retryAfter)
	}

	// 3. Four wrong codes are 400, the fifth burns the code.
	bad := wrongCode(first.GetCode())
	for i := 1; i <= 4; i++ {
		a.post(t, verifyPath, ip, verifyBody(email, bad)).expect(t, http.StatusBadRequest, httpapi.CodeInvalidVerificationCode)
	}
	r = a.post(t, verifyPath, ip, verifyBody(email, bad))
	r.expect(t, http.StatusTooManyRequests, httpapi.CodeTooManyAttempts)
	if r.env.Message != "인증 시도 횟수를 초과했습니다. 새 코드를 요청해 주세요." || r.retryAfter == "" {
		t.Fatalf("too many attempts answer = %s (Retry-After %q)", r.raw, r.retryAfter)
	}
	if n := a.rdb.Exists(context.Background(), redisstore.CodeKey(email, ip)).Val(); n != 0 {
		t.Fatal("burned code is still stored")
	}

	// 4. The right code no longer works.
	a.post(t, verifyPath, ip, verifyBody(email, first.GetCode())).expect(t, http.StatusBadRequest, httpapi.CodeInvalidVerificationCode)

	// 5. After the cooldown a new code is issued and verifies once.
	time.Sleep(1100 * time.Millisecond)
	a.post(t, sendPath, ip, sendBody(email)).expect(t, http.StatusOK, httpserver.CodeOK)
	second := a.nextCodeRequest(t, email)
	if second.GetRequestId() == first.GetRequestId() {
		t.Fatal("two code requests share a request_id")
	}
	r = a.post(t, verifyPath, ip, verifyBody(mixedCase, second.GetCode()))
	r.expect(t, http.StatusOK, httpserver.CodeOK)
	var result struct {
		TemporaryToken string `json:"temporaryToken"`
	}
	if err := json.Unmarshal(r.env.Result, &result); err != nil || result.TemporaryToken == "" {
		t.Fatalf("result = %s", r.env.Result)
	}
	claims, err := a.codec.Verify(result.TemporaryToken)
	if err != nil || claims.Email != email {
		t.Fatalf("token claims = %+v, %v; want sub %s", claims, err, email)
	}

	// 6. Single use.
	a.post(t, verifyPath, ip, verifyBody(email, second.GetCode())).expect(t, http.StatusBadRequest, httpapi.CodeInvalidVerificationCode)
}

func TestConcurrentCorrectVerifiesMintOneToken(t *testing.T) {
	t.Parallel()
	a := newTestAuth(t, defaults())
	ip, email := uniqueIP(), uniqueEmail()
	a.post(t, sendPath, ip, sendBody(email)).expect(t, http.StatusOK, httpserver.CodeOK)
	code := a.nextCodeRequest(t, email).GetCode()

	const callers = 5 // within MaxAttempts: every caller gets to compare
	statuses := make(chan int, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			r, err := a.do(verifyPath, ip, "", verifyBody(email, code))
			if err != nil {
				t.Error(err)
			}
			statuses <- r.status
		})
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	if got[http.StatusOK] != 1 || got[http.StatusBadRequest] != callers-1 {
		t.Fatalf("statuses = %v, want exactly one 200 and %d×400", got, callers-1)
	}
}

func TestConcurrentWrongGuessesAreCappedAtMaxAttempts(t *testing.T) {
	t.Parallel()
	a := newTestAuth(t, defaults())
	ip, email := uniqueIP(), uniqueEmail()
	a.post(t, sendPath, ip, sendBody(email)).expect(t, http.StatusOK, httpserver.CodeOK)
	code := a.nextCodeRequest(t, email).GetCode()

	// 30 different wrong guesses at once: only MaxAttempts of them may be
	// compared against the code, whatever the interleaving.
	var wg sync.WaitGroup
	n, _ := strconv.Atoi(code)
	for i := 1; i <= 30; i++ {
		guess := fmt.Sprintf("%06d", (n+i)%1_000_000)
		wg.Go(func() {
			if _, err := a.do(verifyPath, ip, "", verifyBody(email, guess)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	compared := testinfra.MetricValue(t, a.reg, "farewell_auth_verifications_total", map[string]string{"outcome": "wrong_code"}) +
		testinfra.MetricValue(t, a.reg, "farewell_auth_verifications_total", map[string]string{"outcome": "burned"})
	if compared != 5 {
		t.Fatalf("%v guesses were compared against the code, want exactly 5", compared)
	}
	a.post(t, verifyPath, ip, verifyBody(email, code)).expect(t, http.StatusBadRequest, httpapi.CodeInvalidVerificationCode)
}

func TestPerIPLimits(t *testing.T) {
	t.Parallel()
	o := defaults()
	o.ipLimit, o.ipVerifyLimit = 3, 2
	a := newTestAuth(t, o)
	ip := uniqueIP()

	for i := range 3 {
		r := a.postWithForwardedFor(t, sendPath, ip, fmt.Sprintf("203.0.113.%d", i), sendBody(uniqueEmail()))
		r.expect(t, http.StatusOK, httpserver.CodeOK)
	}
	// Spoofed X-Forwarded-For from an untrusted peer changes nothing.
	r := a.postWithForwardedFor(t, sendPath, ip, "203.0.113.99", sendBody(uniqueEmail()))
	r.expect(t, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)
	if secs, err := strconv.Atoi(r.retryAfter); err != nil || secs < 1 || secs > 60 {
		t.Fatalf("Retry-After = %q, want 1..60", r.retryAfter)
	}
	// Another client is not affected.
	a.post(t, sendPath, uniqueIP(), sendBody(uniqueEmail())).expect(t, http.StatusOK, httpserver.CodeOK)

	email := uniqueEmail()
	for range 2 {
		a.post(t, verifyPath, ip, verifyBody(email, "000000")).expect(t, http.StatusBadRequest, httpapi.CodeInvalidVerificationCode)
	}
	r = a.post(t, verifyPath, ip, verifyBody(email, "000000"))
	r.expect(t, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)
	if r.retryAfter == "" {
		t.Fatal("429 without Retry-After")
	}
}

// TestHourlyLimitPerEmail: the hourly quota is per (address, client): the
// client that used it up waits the hour, another client does not; all
// clients together are held by the per-address cap of the window.
func TestHourlyLimitPerEmail(t *testing.T) {
	t.Parallel()
	o := defaults()
	o.hourlyLimit = 1
	o.addressLimit = 2
	a := newTestAuth(t, o)
	email, ip := uniqueEmail(), uniqueIP()
	a.post(t, sendPath, ip, sendBody(email)).expect(t, http.StatusOK, httpserver.CodeOK)
	time.Sleep(1100 * time.Millisecond) // past the cooldown
	r := a.post(t, sendPath, ip, sendBody(email))
	r.expect(t, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)
	if secs, _ := strconv.Atoi(r.retryAfter); secs < 3500 || secs > 3600 {
		t.Fatalf("Retry-After = %q, want about an hour", r.retryAfter)
	}
	a.post(t, sendPath, uniqueIP(), sendBody(email)).expect(t, http.StatusOK, httpserver.CodeOK)
	r = a.post(t, sendPath, uniqueIP(), sendBody(email))
	r.expect(t, http.StatusTooManyRequests, httpserver.CodeTooManyRequests)
	if secs, _ := strconv.Atoi(r.retryAfter); secs < 1 || secs > 60 {
		t.Fatalf("Retry-After = %q, want within the per-address window (1m)", r.retryAfter)
	}
}

func TestPublishFailureUndoesTheCode(t *testing.T) {
	t.Parallel()
	o := defaults()
	o.closeProducer = true
	a := newTestAuth(t, o)
	email, ip := uniqueEmail(), uniqueIP()
	r := a.post(t, sendPath, ip, sendBody(email))
	r.expect(t, http.StatusServiceUnavailable, httpserver.CodeUnavailable)
	if r.retryAfter != "5" {
		t.Fatalf("Retry-After = %q, want 5", r.retryAfter)
	}
	ctx := context.Background()
	if n := a.rdb.Exists(ctx, redisstore.CodeKey(email, ip), redisstore.CooldownKey(email, ip)).Val(); n != 0 {
		t.Fatalf("%d of code/cooldown keys remain after a failed publish", n)
	}
	if v := a.rdb.Get(ctx, redisstore.HourlyKey(email, ip)).Val(); v != "0" && v != "" {
		t.Fatalf("hourly count = %q after a failed publish, want 0", v)
	}
}

func TestInvalidRequests(t *testing.T) {
	t.Parallel()
	a := newTestAuth(t, defaults())
	tests := []struct {
		name       string
		path       string
		body       any
		wantStatus int
		wantCode   string
	}{
		{"invalid email", sendPath, sendBody("not-an-email"), 400, httpapi.CodeInvalidEmail},
		{"CRLF in email", sendPath, sendBody("a@example.com\r\nBcc: b@example.com"), 400, httpapi.CodeInvalidEmail},
		{"fullwidth at", sendPath, sendBody("a＠example.com"), 400, httpapi.CodeInvalidEmail},
		{"display name", sendPath, sendBody("A <a@example.com>"), 400, httpapi.CodeInvalidEmail},
		{"unknown field", sendPath, `{"email":"a@example.com","admin":true}`, 400, httpserver.CodeInvalidJSON},
		{"malformed json", sendPath, `{"email":`, 400, httpserver.CodeInvalidJSON},
		{"trailing data", sendPath, `{"email":"a@example.com"} {}`, 400, httpserver.CodeInvalidJSON},
		{"empty body", sendPath, ``, 400, httpserver.CodeInvalidJSON},
		{"too large", sendPath, `{"email":"` + strings.Repeat("a", 20<<10) + `"}`, 413, httpserver.CodePayloadTooLarge},
		{"five digit code", verifyPath, verifyBody(uniqueEmail(), "12345"), 400, httpapi.CodeInvalidVerificationCode},
		{"letters in code", verifyPath, verifyBody(uniqueEmail(), "12a456"), 400, httpapi.CodeInvalidVerificationCode},
		{"no code requested", verifyPath, verifyBody(uniqueEmail(), "123456"), 400, httpapi.CodeInvalidVerificationCode},
		{"verify with invalid email", verifyPath, verifyBody("bad", "123456"), 400, httpapi.CodeInvalidEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a.post(t, tt.path, uniqueIP(), tt.body).expect(t, tt.wantStatus, tt.wantCode)
		})
	}
	// Nothing refused above may have reached Kafka.
	a.codes.expectNone(t, 500*time.Millisecond)
}

func TestWrongContentType(t *testing.T) {
	t.Parallel()
	a := newTestAuth(t, defaults())
	req := httptest.NewRequest(http.MethodPost, sendPath, strings.NewReader(`{"email":"a@example.com"}`))
	req.Header.Set("Content-Type", "text/plain")
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType || !strings.Contains(rec.Body.String(), httpserver.CodeUnsupportedMediaType) {
		t.Fatalf("got %d %s", rec.Code, rec.Body.String())
	}
}

// topicReader reads a one-partition topic from the beginning with a plain
// sarama consumer, independent of the code under test.
type topicReader struct {
	pc sarama.PartitionConsumer
}

func newTopicReader(t *testing.T, brokers []string, topic string) *topicReader {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	consumer, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		_ = consumer.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close(); _ = consumer.Close() })
	return &topicReader{pc: pc}
}

func (r *topicReader) next(t *testing.T) *sarama.ConsumerMessage {
	t.Helper()
	select {
	case m := <-r.pc.Messages():
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message on the codes topic within 10s")
		return nil
	}
}

func (r *topicReader) expectNone(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case m := <-r.pc.Messages():
		t.Fatalf("unexpected message on the codes topic (key %q)", m.Key)
	case <-time.After(wait):
	}
}
