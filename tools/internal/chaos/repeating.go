package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/kafka"
	farewellv1 "github.com/terning-farewell/farewell/proto/farewell/v1"
)

// repeatingFailure publishes, an eighth into the herd (before the stock
// sells out, so the poison's participant may still win), an admin change and
// an application that MySQL refuses the same way every time (an event id
// longer than the column, an applied_at in the year 10000) while every
// server is healthy. The application belongs to the run's last
// participant, who does not apply through the gateway. The stock-consumer
// must isolate both after its bounded attempts, dead-letter them with the
// refusal as the reason and move on: every other applicant is decided,
// the poison's participant too (not left PENDING: its status answers
// SUCCESS or FAILURE, MySQL and Redis agree), winners stay exact and each
// winner gets one email. Then the operator's replay re-publishes the
// application, and it changes nothing.
func repeatingFailure(ctx context.Context, s *Stack, z Size) (*Run, error) {
	n := z.n(1200, 400)
	appsTopic := envOr(s.Env, "FAREWELL_APPLICATIONS_TOPIC", kafka.TopicApplications)
	adminTopic := envOr(s.Env, "FAREWELL_ADMIN_TOPIC", kafka.TopicAdmin)
	var poison string
	r, err := NewRun(ctx, s, "repeating-failure", n, int64(n/3), Options{
		DeadLetterExpected: func(d DeadLetter) bool {
			return d.Key == poison && d.Topic == kafka.DeadLetter(appsTopic)
		},
	})
	if err != nil {
		return nil, err
	}
	poison = r.Participants[n-1]
	badEvent := s.EventID + "-" + strings.Repeat("x", 70)
	producer, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: s.Topology.KafkaAddrs(), ClientID: "farewell-chaos-poison", Retries: 3},
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		return r, err
	}
	defer producer.Close()

	spread := z.d(9*time.Second, 5*time.Second)
	err = r.Fire(ctx, HerdSpec{Phase: "herd", Order: r.Range(0, n-1), Concurrency: 128, Spread: spread},
		func(ctx context.Context, p *Progress) error {
			if err := p.WaitElapsed(ctx, spread/8); err != nil {
				return err
			}
			admin, err := proto.Marshal(&farewellv1.EventAdminChanged{SchemaVersion: 1, EventId: badEvent,
				Change: &farewellv1.EventAdminChanged_StockSet{StockSet: &farewellv1.StockSet{TotalStock: 5, Version: 1}}})
			if err != nil {
				return err
			}
			app, err := proto.Marshal(&farewellv1.ApplicationSubmitted{SchemaVersion: 1, EventId: s.EventID, Email: poison,
				ApplicationId: "poison-" + r.Prefix, AppliedAtUnixMs: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()})
			if err != nil {
				return err
			}
			if err := producer.Publish(ctx, kafka.Message{Topic: adminTopic, Key: badEvent, Value: admin}); err != nil {
				return fmt.Errorf("publish the poison admin change: %w", err)
			}
			if err := producer.Publish(ctx, kafka.Message{Topic: appsTopic, Key: poison, Value: app}); err != nil {
				return fmt.Errorf("publish the poison application: %w", err)
			}
			r.Event("published a poison admin change and a poison application (%s) at %d/%d answers", poison, p.Done(), p.Total())
			r.FaultUndone()
			return nil
		})
	if err != nil {
		return r, err
	}
	dead, err := r.waitDeadLetters(ctx, map[string]string{kafka.DeadLetter(appsTopic): poison, kafka.DeadLetter(adminTopic): badEvent}, 90*time.Second)
	if err != nil {
		return r, err
	}
	for topic, d := range dead {
		if d.Reason == "" {
			r.Violationf("dead letter on %s has no reason", topic)
		}
		r.Notef("poison dead-lettered on %s (source %s): %s", topic, d.Source, genericReason(d.Reason))
	}
	status, err := r.waitDecided(ctx, poison, 60*time.Second)
	if err != nil {
		return r, err
	}
	r.Notef("the poison's participant ended %s (not PENDING) without a replay", status)

	// The operator's replay of the poison application: decided already, so
	// it is decided the same way again and nothing changes (the checks
	// after this scenario see one row, one decision, one email).
	n2, err := r.replay(ctx, kafka.DeadLetter(appsTopic), poison, producer)
	if err != nil {
		return r, err
	}
	r.Event("replayed %d dead letter(s) of %s", n2, poison)
	if after, err := r.waitDecided(ctx, poison, 60*time.Second); err != nil || after != status {
		r.Violationf("after the replay the poison's status is %q (err %v), want %s as before", after, err, status)
	}
	return r, nil
}

// waitDeadLetters waits until each dead-letter topic of want holds a
// message of this run with the given key, and returns them.
func (r *Run) waitDeadLetters(ctx context.Context, want map[string]string, d time.Duration) (map[string]DeadLetter, error) {
	deadline := time.Now().Add(d)
	for {
		found := map[string]DeadLetter{}
		dlq, err := r.S.ReadDLQ(ctx, r.dlqMark)
		if err == nil {
			for _, m := range dlq {
				if key, ok := want[m.Topic]; ok && m.Key == key {
					found[m.Topic] = m
				}
			}
			if len(found) == len(want) {
				return found, nil
			}
		}
		if time.Now().After(deadline) {
			r.Violationf("the poison did not reach every dead-letter topic within %s: found %d of %d (err %v): the partition is stuck or the poison was dropped", d, len(found), len(want), err)
			return found, nil
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// waitDecided waits until the participant's status answers SUCCESS or
// FAILURE, and returns it; PENDING at the deadline is a violation.
func (r *Run) waitDecided(ctx context.Context, email string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for {
		tok, err := r.S.Minter.Mint(email, time.Now())
		if err != nil {
			return "", err
		}
		got, resp, err := r.S.API.Status(ctx, tok)
		if err == nil && resp.HTTPStatus == 200 && (got == "SUCCESS" || got == "FAILURE") {
			return got, nil
		}
		if time.Now().After(deadline) {
			r.Violationf("%s is still %q (HTTP %d, err %v) %s after its application was dead-lettered", email, got, resp.HTTPStatus, err, d)
			return got, nil
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// replay does what `stock-consumer replay -topic T -key K -execute` does.
func (r *Run) replay(ctx context.Context, topic, key string, p *kafka.Producer) (int, error) {
	client, err := sarama.NewClient(r.S.Topology.KafkaAddrs(), kafka.NewSaramaConfig("farewell-chaos-replay"))
	if err != nil {
		return 0, err
	}
	defer client.Close()
	recs, err := kafka.ReadDeadLetters(ctx, client, topic)
	if err != nil {
		return 0, err
	}
	sel := kafka.ReplaySelection{Keys: map[string]bool{key: true}}
	return kafka.Replay(ctx, p, sel.Select(recs), nil)
}
