//go:build !fuzzing

package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/mail"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/notifier/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/notifier/internal/adapters/smtpmail"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
	"github.com/terning-farewell/farewell/services/notifier/internal/ports/consumer"
	"github.com/terning-farewell/farewell/services/notifier/internal/templates"
)

// env is the notifier's two handlers and groups running against the real
// Kafka, Redis and Mailpit, on topics of its own.
type env struct {
	rdb            *redis.Client
	brokers        []string
	mailpit        *testinfra.Mailpit
	codesTopic     string
	decisionsTopic string
	input          *kafka.Producer
	reg            *prometheus.Registry
	markers        *redisstore.Markers
	renderer       *templates.Renderer
	metrics        *delivery.Metrics
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// newEnv prepares topics, clients and shared parts, without consumers.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{
		rdb:     testinfra.Redis(t),
		brokers: testinfra.KafkaBrokers(t),
		mailpit: testinfra.MailpitServer(t),
		reg:     prometheus.NewRegistry(),
	}
	e.codesTopic = testinfra.KafkaTopic(t, e.brokers, "test-notifier-codes-", 1)
	e.decisionsTopic = testinfra.KafkaTopic(t, e.brokers, "test-notifier-decisions-", 1)
	testinfra.CreateKafkaTopic(t, e.brokers, kafka.DeadLetter(e.codesTopic), 1)
	testinfra.CreateKafkaTopic(t, e.brokers, kafka.DeadLetter(e.decisionsTopic), 1)
	var err error
	if e.markers, err = redisstore.NewMarkers(context.Background(), e.rdb, redisstore.MarkerOptions{}); err != nil {
		t.Fatal(err)
	}
	if e.renderer, err = templates.New(); err != nil {
		t.Fatal(err)
	}
	if e.metrics, err = delivery.NewMetrics(e.reg); err != nil {
		t.Fatal(err)
	}
	// The test's own producer has its own registry: its metrics would
	// collide with the dead-letter producer's.
	if e.input, err = kafka.NewProducer(kafka.ProducerConfig{Brokers: e.brokers, ClientID: "notifier-test-input"}, discard, prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.input.Close() })
	return e
}

func (e *env) sender(t *testing.T, host string, port int) *smtpmail.Sender {
	t.Helper()
	s, err := mail.NewSender(mail.Config{Host: host, Port: port, From: "no-reply@farewell.test", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return smtpmail.New(s)
}

func (e *env) deps(s delivery.Sender, retry delivery.Retry) delivery.Deps {
	return delivery.Deps{Sender: s, Markers: e.markers, Renderer: e.renderer, Metrics: e.metrics, Log: discard, Retry: retry}
}

// run starts both consumer groups, wired as the notifier's main wires them,
// each with its own SMTP sender, and stops them when the test ends.
func (e *env) run(t *testing.T, notifyLosers bool) {
	t.Helper()
	dlq, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: e.brokers, ClientID: "notifier-test-dlq"}, discard, e.reg)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := consumer.NewCodeHandler(e.deps(e.sender(t, e.mailpit.SMTPHost, e.mailpit.SMTPPort), delivery.DefaultRetry(5)))
	if err != nil {
		t.Fatal(err)
	}
	results, err := consumer.NewResultHandler(e.deps(e.sender(t, e.mailpit.SMTPHost, e.mailpit.SMTPPort), delivery.DefaultRetry(5)), notifyLosers)
	if err != nil {
		t.Fatal(err)
	}
	var groups []*kafka.Group
	for _, g := range []struct {
		topic string
		h     kafka.BatchHandler
	}{{e.codesTopic, codes}, {e.decisionsTopic, results}} {
		group, err := kafka.NewGroup(kafka.GroupConfig{
			Brokers: e.brokers, GroupID: testinfra.UniqueName("test-notifier-"), Topics: []string{g.topic},
			ClientID: "notifier-test", RetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: 500 * time.Millisecond,
		}, g.h, dlq, discard, e.reg)
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, group)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() {
			if err := g.Run(ctx); err != nil {
				t.Errorf("group: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = dlq.Close()
	})
}

func (e *env) publish(t *testing.T, topic, key string, m proto.Message) {
	t.Helper()
	value, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	e.publishRaw(t, topic, key, value)
}

func (e *env) publishRaw(t *testing.T, topic, key string, value []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.input.Publish(ctx, kafka.Message{Topic: topic, Key: key, Value: value}); err != nil {
		t.Fatal(err)
	}
}

func uniqueEmail() string { return testinfra.UniqueName("notify-") + "@example.com" }

func codeRequest(email, code string, expiresIn time.Duration) *farewellv1.VerificationCodeRequested {
	now := time.Now()
	return &farewellv1.VerificationCodeRequested{
		SchemaVersion: 1, Email: email, Code: code, RequestId: uuid.NewString(),
		RequestedAtUnixMs: now.UnixMilli(), ExpiresAtUnixMs: now.Add(expiresIn).UnixMilli(),
	}
}

func decision(eventID, email string, status farewellv1.DecisionStatus, rank int64) *farewellv1.ApplicationDecided {
	return &farewellv1.ApplicationDecided{
		SchemaVersion: 1, EventId: eventID, Email: email, Status: status, Rank: rank,
		DecidedAtUnixMs: time.Now().UnixMilli(), ApplicationId: uuid.NewString(),
	}
}

func TestCodeEmailIsSentOnceAndExpiredCodesAreSkipped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(t, false)
	email, expired := uniqueEmail(), uniqueEmail()
	req := codeRequest(email, "042137", 5*time.Minute)

	e.publish(t, e.codesTopic, expired, codeRequest(expired, "111111", -time.Second))
	e.publish(t, e.codesTopic, email, req)
	e.publish(t, e.codesTopic, email, req) // redelivery of the same request

	msg := e.onlyMail(t, email)
	if msg.Subject != templates.SubjectCode {
		t.Fatalf("subject = %q", msg.Subject)
	}
	for _, part := range []string{msg.Text, msg.HTML} {
		if !strings.Contains(part, "042137") || !strings.Contains(part, "(KST)") {
			t.Fatalf("body lacks the code or its expiry:\n%s", part)
		}
	}
	wantID := delivery.Job{Kind: delivery.KindCode, ID: req.GetRequestId()}.MessageID()
	if msg.MessageID != wantID {
		t.Fatalf("Message-ID = %q, want %q", msg.MessageID, wantID)
	}
	key := "farewell:mail:code:" + req.GetRequestId()
	if v := e.rdb.Get(context.Background(), key).Val(); v != "sent" {
		t.Fatalf("marker %s = %q, want sent", key, v)
	}
	if ttl := e.rdb.PTTL(context.Background(), key).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Fatalf("sent marker TTL = %s, want 1h", ttl)
	}
	waitCounter(t, e.reg, "farewell_notifier_duplicates_skipped_total", map[string]string{"kind": "code"}, 1)
	waitCounter(t, e.reg, "farewell_notifier_emails_skipped_total", map[string]string{"kind": "code", "reason": "expired"}, 1)
	e.expectNoMail(t, email, 1)
	e.expectNoMail(t, expired, 0)
}

func TestDecisionEmailOncePerDecision(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(t, false)
	winner, loser := uniqueEmail(), uniqueEmail()
	eventID := testinfra.UniqueName("event-")

	e.publish(t, e.decisionsTopic, winner, decision(eventID, winner, farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS, 3))
	e.publish(t, e.decisionsTopic, loser, decision(eventID, loser, farewellv1.DecisionStatus_DECISION_STATUS_FAILURE, 0))
	// The same decision again, as a replaying stock-consumer would publish it.
	e.publish(t, e.decisionsTopic, winner, decision(eventID, winner, farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS, 3))

	msg := e.onlyMail(t, winner)
	if msg.Subject != templates.SubjectWinner || !strings.Contains(msg.Text, "3번째") ||
		!strings.Contains(msg.Text, "축하합니다! 터닝의 마지막 선물에 당첨되셨습니다") {
		t.Fatalf("winner email = %q\n%s", msg.Subject, msg.Text)
	}
	waitCounter(t, e.reg, "farewell_notifier_duplicates_skipped_total", map[string]string{"kind": "result"}, 1)
	waitCounter(t, e.reg, "farewell_notifier_emails_skipped_total", map[string]string{"kind": "result", "reason": "loser_not_notified"}, 1)
	e.expectNoMail(t, winner, 1)
	e.expectNoMail(t, loser, 0)
}

func TestLosersAreMailedWhenEnabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(t, true)
	loser := uniqueEmail()
	e.publish(t, e.decisionsTopic, loser, decision(testinfra.UniqueName("event-"), loser, farewellv1.DecisionStatus_DECISION_STATUS_FAILURE, 0))
	msg := e.onlyMail(t, loser)
	if msg.Subject != templates.SubjectLoser || !strings.Contains(msg.Text, "당첨되지 않으셨습니다") {
		t.Fatalf("loser email = %q\n%s", msg.Subject, msg.Text)
	}
}

func TestPoisonMessagesGoToTheDeadLetterTopic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(t, false)
	eventID := testinfra.UniqueName("event-")
	badAddress := "not an address"
	future := codeRequest(uniqueEmail(), "123456", 5*time.Minute)
	future.SchemaVersion = 2

	e.publish(t, e.decisionsTopic, badAddress, decision(eventID, badAddress, farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS, 1))
	e.publishRaw(t, e.codesTopic, "garbage", []byte{0xff, 0xff, 0xff})
	e.publish(t, e.codesTopic, "future", future)
	// A good message behind the poison is still delivered.
	good := uniqueEmail()
	e.publish(t, e.decisionsTopic, good, decision(eventID, good, farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS, 2))

	smtpDead := testinfra.ReadMessages(t, e.brokers, kafka.DeadLetter(e.decisionsTopic), 1)[0]
	if string(smtpDead.Key) != badAddress || testinfra.Header(smtpDead, kafka.HeaderDLQTopic) != e.decisionsTopic {
		t.Fatalf("dead letter key %q source %q", smtpDead.Key, testinfra.Header(smtpDead, kafka.HeaderDLQTopic))
	}
	if reason := testinfra.Header(smtpDead, kafka.HeaderDLQReason); !strings.Contains(reason, mail.ErrPermanent.Error()) {
		t.Fatalf("x-dlq-reason = %q, want a permanent SMTP failure", reason)
	}
	var back farewellv1.ApplicationDecided
	if err := proto.Unmarshal(smtpDead.Value, &back); err != nil || back.GetEmail() != badAddress {
		t.Fatalf("dead letter does not carry the original message: %v", err)
	}
	marker := delivery.Job{Kind: delivery.KindResult, ID: eventID + ":" + badAddress + ":SUCCESS"}.MarkerKey()
	if n := e.rdb.Exists(context.Background(), marker).Val(); n != 0 {
		t.Fatal("the claim of a dead-lettered email was not released")
	}

	codeDead := testinfra.ReadMessages(t, e.brokers, kafka.DeadLetter(e.codesTopic), 2)
	reasons := map[string]string{}
	for _, m := range codeDead {
		reasons[string(m.Key)] = testinfra.Header(m, kafka.HeaderDLQReason)
	}
	if !strings.Contains(reasons["garbage"], "undecodable") || !strings.Contains(reasons["future"], "unknown schema_version 2") {
		t.Fatalf("dead-letter reasons = %q", reasons)
	}
	e.onlyMail(t, good)
}

func TestClaimHeldElsewhereDelaysTheEmailUntilItExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h, err := consumer.NewCodeHandler(e.deps(e.sender(t, e.mailpit.SMTPHost, e.mailpit.SMTPPort), delivery.DefaultRetry(3)))
	if err != nil {
		t.Fatal(err)
	}
	email := uniqueEmail()
	req := codeRequest(email, "654321", 5*time.Minute)
	value, _ := proto.Marshal(req)
	batch := []*sarama.ConsumerMessage{{Topic: e.codesTopic, Key: []byte(email), Value: value}}
	key := delivery.Job{Kind: delivery.KindCode, ID: req.GetRequestId()}.MarkerKey()
	// Another instance is sending it (or died doing so).
	e.rdb.Set(context.Background(), key, "sending", 1500*time.Millisecond)

	if _, err := h.HandleBatch(context.Background(), batch); err == nil || !kafka.IsUnavailable(err) {
		t.Fatalf("batch while another consumer held the claim: err %v; want a failure retried without bound (not dead-lettered)", err)
	}
	time.Sleep(1600 * time.Millisecond)
	if poison, err := h.HandleBatch(context.Background(), batch); err != nil || len(poison) != 0 {
		t.Fatalf("after the claim expired: poison %v, err %v", poison, err)
	}
	e.onlyMail(t, email)
}

func TestTemporarySMTPFailureRetriesThenReleasesTheClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A port nobody listens on: every dial fails, which is temporary.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	retry := delivery.Retry{MaxAttempts: 3, FirstBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	h, err := consumer.NewResultHandler(e.deps(e.sender(t, "127.0.0.1", port), retry), false)
	if err != nil {
		t.Fatal(err)
	}
	email := uniqueEmail()
	d := decision(testinfra.UniqueName("event-"), email, farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS, 1)
	value, _ := proto.Marshal(d)
	poison, err := h.HandleBatch(context.Background(), []*sarama.ConsumerMessage{{Topic: e.decisionsTopic, Value: value}})
	if err == nil || len(poison) != 0 || !kafka.IsUnavailable(err) {
		t.Fatalf("poison %v, err %v; want a batch error of the server being down (retried without bound)", poison, err)
	}
	if got := testinfra.MetricValue(t, e.reg, "farewell_notifier_email_retries_total", map[string]string{"kind": "result"}); got != 2 {
		t.Fatalf("retries = %v, want 2 (3 attempts)", got)
	}
	marker := delivery.Job{Kind: delivery.KindResult, ID: d.GetEventId() + ":" + email + ":SUCCESS"}.MarkerKey()
	if n := e.rdb.Exists(context.Background(), marker).Val(); n != 0 {
		t.Fatal("claim not released after a temporary failure")
	}
}

// mailpitMessage is the part of Mailpit's message API the tests read.
type mailpitMessage struct {
	Subject   string `json:"Subject"`
	Text      string `json:"Text"`
	HTML      string `json:"HTML"`
	MessageID string `json:"MessageID"`
}

// onlyMail waits for the email to addr and returns it.
func (e *env) onlyMail(t *testing.T, addr string) mailpitMessage {
	t.Helper()
	found := e.mailpit.WaitForMessages(t, `to:"`+addr+`"`, 1, 15*time.Second)
	if len(found) != 1 {
		t.Fatalf("%d emails to %s, want 1", len(found), addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.mailpit.APIURL+"/api/v1/message/"+url.PathEscape(found[0].ID), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m mailpitMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// expectNoMail checks that addr has exactly want emails.
func (e *env) expectNoMail(t *testing.T, addr string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := e.mailpit.Search(ctx, `to:"`+addr+`"`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("%d emails to %s, want exactly %d", len(got), addr, want)
	}
}

func waitCounter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := testinfra.MetricValue(t, reg, name, labels)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// watchingSender passes every email to the real SMTP sender and records how
// many were being sent at once and in which order each recipient's went.
// The first send waits (up to two seconds) for a second one to start, so a
// batch delivered one email at a time shows up as a single send in flight.
type watchingSender struct {
	next delivery.Sender

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	order       map[string][]string // recipient -> subjects' codes, in send order
	second      chan struct{}
	once        sync.Once
}

func (w *watchingSender) Send(ctx context.Context, m delivery.Email) error {
	w.mu.Lock()
	w.inFlight++
	w.maxInFlight = max(w.maxInFlight, w.inFlight)
	first := w.inFlight == 1 && w.order == nil
	if w.order == nil {
		w.order = map[string][]string{}
	}
	w.order[m.To] = append(w.order[m.To], codeIn(m.Text))
	if w.inFlight == 2 {
		w.once.Do(func() { close(w.second) })
	}
	w.mu.Unlock()
	if first {
		select {
		case <-w.second:
		case <-time.After(2 * time.Second):
		}
	}
	err := w.next.Send(ctx, m)
	w.mu.Lock()
	w.inFlight--
	w.mu.Unlock()
	return err
}

// codeIn finds the 6-digit code ("<n>0000<i>" in this test) in a body.
func codeIn(text string) string {
	for f := range strings.FieldsSeq(text) {
		f = strings.Trim(f, ".,:()")
		if len(f) == 6 && strings.Trim(f, "0123456789") == "" {
			return f
		}
	}
	return ""
}

// TestBatchSendsInParallelKeepingEachParticipantsOrder: with Parallel 4 a
// batch's emails go out several at once over the pooled SMTP connections,
// each participant's in the order of the log, every one exactly once.
func TestBatchSendsInParallelKeepingEachParticipantsOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s, err := mail.NewSender(mail.Config{Host: e.mailpit.SMTPHost, Port: e.mailpit.SMTPPort, From: "no-reply@farewell.test", Timeout: 2 * time.Second, Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	w := &watchingSender{next: smtpmail.New(s), second: make(chan struct{})}
	d := e.deps(w, delivery.DefaultRetry(3))
	d.Parallel = 4
	h, err := consumer.NewCodeHandler(d)
	if err != nil {
		t.Fatal(err)
	}
	const people, each = 10, 4
	var emails []string
	var msgs []*sarama.ConsumerMessage
	for p := range people {
		emails = append(emails, uniqueEmail())
		for i := range each {
			v, err := proto.Marshal(codeRequest(emails[p], fmt.Sprintf("%d0000%d", p, i), 5*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, &sarama.ConsumerMessage{Topic: e.codesTopic, Offset: int64(len(msgs)), Key: []byte(emails[p]), Value: v})
		}
	}
	// Interleave the participants, as a herd's log does.
	var batch []*sarama.ConsumerMessage
	for i := range each {
		for p := range people {
			batch = append(batch, msgs[p*each+i])
		}
	}
	poison, err := h.HandleBatch(context.Background(), batch)
	if err != nil || len(poison) != 0 {
		t.Fatalf("HandleBatch: poison %v, err %v", poison, err)
	}
	if w.maxInFlight < 2 {
		t.Fatalf("at most %d email in flight: the batch was sent one at a time", w.maxInFlight)
	}
	for p, email := range emails {
		want := make([]string, each)
		for i := range each {
			want[i] = fmt.Sprintf("%d0000%d", p, i)
		}
		if got := w.order[email]; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s's codes went out as %v, want %v", email, got, want)
		}
		e.mailpit.WaitForMessages(t, `to:"`+email+`"`, each, 10*time.Second)
		e.expectNoMail(t, email, each)
	}
}
