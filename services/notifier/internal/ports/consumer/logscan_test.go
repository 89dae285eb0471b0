//go:build !fuzzing

package consumer_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/proto"

	"github.com/terning-farewell/farewell/pkg/observability"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
	"github.com/terning-farewell/farewell/services/notifier/internal/ports/consumer"
)

// TestLogsCarryNoVerificationCode sends a real code email through Mailpit,
// then the same kind of message through an SMTP server that is down (the
// retry path logs the SMTP error), with the notifier's real JSON logger at
// debug level: the code appears in the email and nowhere in the logs.
func TestLogsCarryNoVerificationCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sink := &testinfra.LogSink{}
	log, err := observability.NewLogger(sink, "debug", "notifier", "logscan")
	if err != nil {
		t.Fatal(err)
	}
	deps := func(s delivery.Sender, r delivery.Retry) delivery.Deps {
		d := e.deps(s, r)
		d.Log = log
		return d
	}
	ok, err := consumer.NewCodeHandler(deps(e.sender(t, e.mailpit.SMTPHost, e.mailpit.SMTPPort), delivery.DefaultRetry(3)))
	if err != nil {
		t.Fatal(err)
	}
	email, code := uniqueEmail(), "580317"
	value, _ := proto.Marshal(codeRequest(email, code, 5*time.Minute))
	if poison, err := ok.HandleBatch(context.Background(), []*sarama.ConsumerMessage{{Topic: e.codesTopic, Value: value}}); err != nil || len(poison) != 0 {
		t.Fatalf("send: poison %v, err %v", poison, err)
	}
	if m := e.onlyMail(t, email); !strings.Contains(m.Text, code) {
		t.Fatalf("the email lacks the code: %q", m.Text)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	down, err := consumer.NewCodeHandler(deps(e.sender(t, "127.0.0.1", port),
		delivery.Retry{MaxAttempts: 2, FirstBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	other, otherCode := uniqueEmail(), "907264"
	value, _ = proto.Marshal(codeRequest(other, otherCode, 5*time.Minute))
	if _, err := down.HandleBatch(context.Background(), []*sarama.ConsumerMessage{{Topic: e.codesTopic, Value: value}}); err == nil {
		t.Fatal("a batch against a dead SMTP server succeeded")
	}

	logs := sink.String()
	if !strings.Contains(logs, "temporary smtp failure") {
		t.Fatalf("the retry path logged nothing to scan:\n%s", logs)
	}
	testinfra.ForbidInLogFields(t, logs, code, otherCode)
}
