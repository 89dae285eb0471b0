package mail_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/mail"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

func TestSendReusesOneConnectionAndArrivesInMailpit(t *testing.T) {
	mp := testinfra.MailpitServer(t)
	s, err := mail.NewSender(mail.Config{Host: mp.SMTPHost, Port: mp.SMTPPort, TLS: mail.TLSNone, From: "no-reply@farewell.local"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	to := testinfra.UniqueName("mailtest-") + "@example.com"
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := s.Send(ctx, mail.Message{To: to, Subject: "안녕하세요 테스트", Text: "plain 본문", HTML: "<p>html 본문</p>"}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	got := mp.WaitForMessages(t, `to:"`+to+`"`, 3, 10*time.Second)
	body, err := mp.Message(ctx, got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if body.Subject != "안녕하세요 테스트" || !strings.Contains(body.Text, "plain 본문") || !strings.Contains(body.HTML, "html 본문") {
		t.Fatalf("message = %+v", body)
	}
	// An address the client refuses to build is permanent: retrying cannot help.
	err = s.Send(ctx, mail.Message{To: "not an address", Subject: "x", Text: "x"})
	if !errors.Is(err, mail.ErrPermanent) {
		t.Fatalf("bad address err = %v, want ErrPermanent", err)
	}
	// The connection is still usable afterwards.
	if err := s.Send(ctx, mail.Message{To: to, Subject: "after", Text: "x"}); err != nil {
		t.Fatalf("send after a refused message: %v", err)
	}
}

// TestConcurrentSendsShareThePool: sends from many goroutines over a pool
// of four connections all arrive, and a closed sender dials again.
func TestConcurrentSendsShareThePool(t *testing.T) {
	mp := testinfra.MailpitServer(t)
	s, err := mail.NewSender(mail.Config{Host: mp.SMTPHost, Port: mp.SMTPPort, TLS: mail.TLSNone, From: "no-reply@farewell.local", Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	to := testinfra.UniqueName("mailpool-") + "@example.com"
	ctx := context.Background()
	const senders, each = 8, 5
	errs := make(chan error, senders*each)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- s.Send(ctx, mail.Message{To: to, Subject: fmt.Sprintf("pool %d/%d", g, i), Text: "x"})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent send: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Send(ctx, mail.Message{To: to, Subject: "after close", Text: "x"}); err != nil {
		t.Fatalf("send after close: %v", err)
	}
	mp.WaitForMessages(t, `to:"`+to+`"`, senders*each+1, 15*time.Second)
}

func TestNewSenderValidates(t *testing.T) {
	t.Parallel()
	if _, err := mail.NewSender(mail.Config{Host: "h", Port: 25, From: "a@b.c", TLS: "sometimes"}); err == nil {
		t.Fatal("unknown TLS mode accepted")
	}
	if _, err := mail.NewSender(mail.Config{Port: 25, From: "a@b.c"}); err == nil {
		t.Fatal("missing host accepted")
	}
}
