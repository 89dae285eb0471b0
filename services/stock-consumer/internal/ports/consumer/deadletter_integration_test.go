//go:build !fuzzing

package consumer_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/ports/replay"
)

// waitRows waits until the event has n rows in MySQL.
func (e *env) waitRows(n int) []row {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows := e.rows()
		if len(rows) >= n || time.Now().After(deadline) {
			return rows
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// poisonApplication is an application MySQL refuses every time: its
// applied_at lies outside DATETIME's range.
func (e *env) poisonApplication(email string) []byte {
	e.t.Helper()
	v, err := proto.Marshal(&farewellv1.ApplicationSubmitted{
		SchemaVersion: 1, EventId: e.eventID, Email: email, ApplicationId: "poison",
		AppliedAtUnixMs: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) publishAll(ctx context.Context, msgs ...kafka.Message) {
	e.t.Helper()
	for _, m := range msgs { // one by one keeps the log order
		if err := e.producer.Publish(ctx, m); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) decisionOf(email string) string {
	return e.rdb.HGet(context.Background(), redisx.KeysFor(e.eventID).Decisions, email).Val()
}

// replayDLQ runs the replay subcommand against the env's dead-letter topic.
func (e *env) replayDLQ(args ...string) string {
	e.t.Helper()
	var errOut bytes.Buffer
	opts, err := replay.ParseArgs(append([]string{"-brokers", strings.Join(e.brokers, ","), "-topic", kafka.DeadLetter(e.appsTopic)}, args...), pkgconfig.FromMap(nil), &errOut)
	if err != nil {
		e.t.Fatalf("replay flags: %v (%s)", err, errOut.String())
	}
	var out bytes.Buffer
	if err := replay.Run(context.Background(), opts, &out, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		e.t.Fatalf("replay: %v\n%s", err, out.String())
	}
	return out.String()
}

// TestPoisonApplicationIsDecidedNotLeftPending: an application MySQL
// refuses the same way every time is isolated and dead-lettered, and its
// participant is still decided in log order (persisted without the refused
// field), so Redis and MySQL agree and nobody stays PENDING. The decision
// log records it as a late decision at its place in line. Replaying it
// afterwards changes nothing.
func TestPoisonApplicationIsDecidedNotLeftPending(t *testing.T) {
	e := newEnv(t)
	withLog(t, e)
	e.setStock(2)
	dlq := kafka.DeadLetter(e.appsTopic)
	testinfra.CreateKafkaTopic(t, e.brokers, dlq, 1)
	ctx := e.runGroup(testinfra.UniqueName("g-"), e.handler)

	first, second, third := e.application("first@example.com", 0), e.application("third@example.com", 0), e.application("fourth@example.com", 0)
	e.publishAll(ctx,
		kafka.Message{Topic: e.appsTopic, Key: string(first.Key), Value: first.Value},
		kafka.Message{Topic: e.appsTopic, Key: "poison@example.com", Value: e.poisonApplication("poison@example.com")},
		kafka.Message{Topic: e.appsTopic, Key: string(second.Key), Value: second.Value},
		kafka.Message{Topic: e.appsTopic, Key: string(third.Key), Value: third.Value},
	)

	dead := testinfra.ReadMessages(t, e.brokers, dlq, 1)[0]
	if string(dead.Key) != "poison@example.com" || testinfra.Header(dead, kafka.HeaderDLQReason) == "" || testinfra.Header(dead, kafka.HeaderDLQAttempts) == "1" {
		t.Fatalf("dead letter key %q reason %q attempts %q; want the poison, isolated after several attempts", dead.Key,
			testinfra.Header(dead, kafka.HeaderDLQReason), testinfra.Header(dead, kafka.HeaderDLQAttempts))
	}
	rows := e.waitRows(4)
	checkExactlyWinners(t, rows, 2, 4)
	for _, r := range rows {
		want := map[string]string{"first@example.com": "SUCCESS:1", "poison@example.com": "SUCCESS:2",
			"third@example.com": "FAILURE:0", "fourth@example.com": "FAILURE:0"}[r.Email]
		got := r.Status + ":" + strconv.FormatInt(r.Rank, 10)
		if got != want || e.decisionOf(r.Email) != want {
			t.Fatalf("%s: MySQL %s, Redis %q, want %s (log order)", r.Email, got, e.decisionOf(r.Email), want)
		}
	}
	if w := e.rdb.Get(ctx, redisx.KeysFor(e.eventID).Winners).Val(); w != "2" {
		t.Fatalf("redis winners = %s, want 2 (MySQL has 2)", w)
	}
	checkPoisonLoggedAtItsPlace(t, e, "poison@example.com")

	// The replay re-publishes it; it was decided, so it is decided the same
	// way again: one more identical decision message, no new row, no new
	// dead letter.
	out := e.replayDLQ("-key", "poison@example.com", "-execute")
	if !strings.Contains(out, "replayed 1/1") {
		t.Fatalf("replay output:\n%s", out)
	}
	decisions := testinfra.ReadMessages(t, e.brokers, e.decTopic, 5)
	var again farewellv1.ApplicationDecided
	if err := proto.Unmarshal(decisions[4].Value, &again); err != nil || again.GetEmail() != "poison@example.com" ||
		again.GetStatus() != farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS || again.GetRank() != 2 {
		t.Fatalf("decision after the replay = %+v (%v), want poison@example.com SUCCESS 2 again", &again, err)
	}
	checkExactlyWinners(t, e.rows(), 2, 4)
	if n := len(testinfra.ReadUntilIdle(t, e.brokers, dlq, time.Second)); n != 1 {
		t.Fatalf("dead letters after the replay = %d, want still 1", n)
	}
	if n := len(decisionsOf(copiedLog(t, e))); n != 4 {
		t.Fatalf("decisions in the log after the replay = %d, want still 4", n)
	}
}

// checkPoisonLoggedAtItsPlace: every application of the topic has one
// decision in the log at its own offset; the poison's is a late decision,
// the others ordinary ones; in offset order the winners come first with
// ranks 1, 2, … (first come, first served, the poison at its place).
func checkPoisonLoggedAtItsPlace(t *testing.T, e *env, poison string) {
	t.Helper()
	offsetOf := map[string]int64{}
	for _, m := range testinfra.ReadUntilIdle(t, e.brokers, e.appsTopic, time.Second) {
		if _, ok := offsetOf[string(m.Key)]; !ok {
			offsetOf[string(m.Key)] = m.Offset
		}
	}
	ds := decisionsOf(copiedLog(t, e))
	if len(ds) != len(offsetOf) {
		t.Fatalf("%d decisions in the log for %d applications: %+v", len(ds), len(offsetOf), ds)
	}
	byOffset := map[int64]fairlog.Entry{}
	for _, d := range ds {
		byOffset[d.Offset] = d
	}
	for email, off := range offsetOf {
		d, ok := byOffset[off]
		wantKind := fairlog.KindDecision
		if email == poison {
			wantKind = fairlog.KindLateDecision
		}
		if !ok || d.Participant != fairlog.Participant(logSalt, e.eventID, email) || d.Kind != wantKind {
			t.Fatalf("%s (offset %d): log entry %+v, want a %s of that participant at that offset", email, off, d, wantKind)
		}
	}
	offsets := make([]int64, 0, len(byOffset))
	for off := range byOffset {
		offsets = append(offsets, off)
	}
	slices.Sort(offsets)
	var winners int64
	for _, off := range offsets {
		d := byOffset[off]
		if winners < d.Stock {
			winners++
			if d.Status != "SUCCESS" || d.Rank != winners {
				t.Fatalf("offset %d: %s rank %d under stock %d, want SUCCESS rank %d", off, d.Status, d.Rank, d.Stock, winners)
			}
		} else if d.Status != "FAILURE" {
			t.Fatalf("offset %d: %s with %d winners before under stock %d, want FAILURE", off, d.Status, winners, d.Stock)
		}
	}
}

// TestReplayDecidesADeadLetteredApplicationOnce: an application that was
// dead-lettered and never decided (say, by a consumer that could not read
// it then) is PENDING until replayed; the replay publishes each original
// message once per run even when the topic holds two copies, and replaying
// again decides nothing twice.
func TestReplayDecidesADeadLetteredApplicationOnce(t *testing.T) {
	e := newEnv(t)
	e.setStock(1)
	dlq := kafka.DeadLetter(e.appsTopic)
	testinfra.CreateKafkaTopic(t, e.brokers, dlq, 1)
	late := e.application("late@example.com", 7)
	late.Partition = 0
	copyOf := kafka.DeadLetterMessage(kafka.Poison{Msg: late, Reason: "unsupported schema_version 2", Attempts: 1})
	ctx := context.Background()
	// Two copies of one dead letter: a crash between the dead-letter publish
	// and the offset commit writes it again.
	e.publishAll(ctx, copyOf, copyOf)

	dry := e.replayDLQ("-all")
	if !strings.Contains(dry, "dry run: would re-publish 1 message") || !strings.Contains(dry, "late@example.com") {
		t.Fatalf("dry run output:\n%s", dry)
	}
	if n := len(e.rows()); n != 0 {
		t.Fatalf("a dry run decided %d applications", n)
	}

	e.runGroup(testinfra.UniqueName("g-"), e.handler)
	out := e.replayDLQ("-all", "-execute")
	if !strings.Contains(out, "replayed 1/1") || strings.Contains(out, "replayed 2/") {
		t.Fatalf("replay output (want one message re-published):\n%s", out)
	}
	rows := e.waitRows(1)
	checkExactlyWinners(t, rows, 1, 1)
	if e.decisionOf("late@example.com") != "SUCCESS:1" {
		t.Fatalf("redis decision %q, want SUCCESS:1", e.decisionOf("late@example.com"))
	}
	replayed := testinfra.ReadMessages(t, e.brokers, e.appsTopic, 1)[0]
	if !bytes.Equal(replayed.Value, late.Value) || string(replayed.Key) != "late@example.com" ||
		testinfra.Header(replayed, kafka.HeaderReplayedFrom) != dlq+"/0/0" || testinfra.Header(replayed, kafka.HeaderDLQReason) != "" {
		t.Fatalf("replayed message key %q, x-replayed-from %q: not the original", replayed.Key, testinfra.Header(replayed, kafka.HeaderReplayedFrom))
	}

	// A second run replays it again: decided before, so nothing changes.
	e.replayDLQ("-offset", "1", "-execute")
	decisions := testinfra.ReadMessages(t, e.brokers, e.decTopic, 2)
	for _, d := range decisions {
		var m farewellv1.ApplicationDecided
		if err := proto.Unmarshal(d.Value, &m); err != nil || m.GetStatus() != farewellv1.DecisionStatus_DECISION_STATUS_SUCCESS || m.GetRank() != 1 {
			t.Fatalf("decision %+v (%v), want SUCCESS 1 each time", &m, err)
		}
	}
	checkExactlyWinners(t, e.rows(), 1, 1)
}
