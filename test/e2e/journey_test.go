// Package e2e walks the participant journey through the running local stack:
// nginx, both auth and apply-gateway replicas, stock-consumer, notifier,
// Kafka, Redis, MariaDB and the real email in Mailpit.
package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
	"github.com/terning-farewell/farewell/pkg/stackclient"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

type stack struct {
	client  *stackclient.Client
	mailpit *testinfra.Mailpit
	env     map[string]string
	envFile string
}

// logWriter sends progress lines (waiting for the stack lock) to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newStack(t *testing.T) *stack {
	t.Helper()
	base := testinfra.NginxURL(t)
	path, err := localstack.FindEnvFile(os.Getenv("FAREWELL_TEST_ENV_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := localstack.LoadEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	// The chaos suite and the benchmark disturb the same stack: take turns.
	lock, err := localstack.AcquireLock(context.Background(), localstack.PathsOfEnvFile(path).Lock, 15*time.Minute, "e2e test", logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Release() })
	return &stack{client: stackclient.NewClient(base, env["FAREWELL_ADMIN_KEY"], 16), mailpit: testinfra.MailpitServer(t), env: env, envFile: path}
}

func (s *stack) post(t *testing.T, path string, body any) stackclient.Response {
	t.Helper()
	r, err := s.client.Do(context.Background(), http.MethodPost, path, body, nil)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return r
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// codeFromEmail waits for the n-th code email to addr and returns its code.
func (s *stack) codeFromEmail(t *testing.T, addr string, n int) string {
	t.Helper()
	msgs := s.mailpit.WaitForMessages(t, `to:"`+addr+`" subject:"인증"`, n, 20*time.Second)
	body, err := s.mailpit.Message(context.Background(), msgs[0].ID) // newest first
	if err != nil {
		t.Fatal(err)
	}
	m := sixDigits.FindStringSubmatch(body.Text)
	if m == nil {
		t.Fatalf("no 6-digit code in the email text: %q", body.Text)
	}
	return m[1]
}

// pauseConsumer stops every stock-consumer (SIGSTOP) so PENDING can be
// observed; the returned function resumes them.
func (s *stack) pauseConsumer(t *testing.T) func() {
	t.Helper()
	var pids []int
	for _, c := range localstack.InstancesOf("stock-consumer") {
		raw, err := os.ReadFile(filepath.Join(filepath.Dir(s.envFile), "pids", c.Name+".pid"))
		if err != nil {
			t.Logf("%s pid not found (%v): PENDING may already be decided", c.Name, err)
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("pause %s: %v", c.Name, err)
		}
		pids = append(pids, pid)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
		}
	}
	t.Cleanup(resume)
	return resume
}

func TestParticipantJourney(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	me := testinfra.UniqueName("e2e-") + "@Example.com"
	meNorm := strings.ToLower(me)

	// 1. Request a code; read it from the real email.
	r := s.post(t, "/api/auth/send-verification-code", map[string]string{"email": me})
	if r.HTTPStatus != 200 || r.Envelope.Code != "OK" {
		t.Fatalf("send code: %d %s %s", r.HTTPStatus, r.Envelope.Code, r.Envelope.Message)
	}
	code := s.codeFromEmail(t, meNorm, 1)

	// 2. A wrong code is refused, the right one gives a token.
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	r = s.post(t, "/api/auth/verify-code", map[string]string{"email": me, "code": wrong})
	if r.HTTPStatus != 400 || r.Envelope.Code != "INVALID_VERIFICATION_CODE" {
		t.Fatalf("wrong code: %d %s", r.HTTPStatus, r.Envelope.Code)
	}
	r = s.post(t, "/api/auth/verify-code", map[string]string{"email": me, "code": code})
	if r.HTTPStatus != 200 {
		t.Fatalf("verify: %d %s %s", r.HTTPStatus, r.Envelope.Code, r.Envelope.Message)
	}
	var verified struct {
		TemporaryToken string `json:"temporaryToken"`
	}
	if err := json.Unmarshal(r.Envelope.Result, &verified); err != nil || verified.TemporaryToken == "" {
		t.Fatalf("no temporaryToken in %s", r.Envelope.Result)
	}
	tok := verified.TemporaryToken

	// 3. The admin leaves exactly one gift for this run and opens the event.
	before, err := s.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.SetStock(ctx, before.Winners+1); err != nil {
		t.Fatal(err)
	}
	if err := s.client.OpenWindow(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}

	// 4. Apply while the consumer is paused: 202, then PENDING.
	resume := s.pauseConsumer(t)
	r, err = s.client.Apply(ctx, tok)
	if err != nil || r.HTTPStatus != 202 {
		t.Fatalf("apply: %v %d %s %s", err, r.HTTPStatus, r.Envelope.Code, r.Envelope.Message)
	}
	st, _, err := s.client.Status(ctx, tok)
	if err != nil || st != "PENDING" {
		t.Fatalf("status while the consumer is paused = %q (%v), want PENDING", st, err)
	}
	// A second apply is refused and consumes nothing.
	r, _ = s.client.Apply(ctx, tok)
	if r.HTTPStatus != 409 || r.Envelope.Code != "ALREADY_APPLIED" || !strings.Contains(r.Envelope.Message, "already applied") {
		t.Fatalf("second apply: %d %s %q", r.HTTPStatus, r.Envelope.Code, r.Envelope.Message)
	}
	resume()

	// 5. The decision arrives: SUCCESS, and a confirmation email.
	deadline := time.Now().Add(30 * time.Second)
	for st != "SUCCESS" {
		if time.Now().After(deadline) {
			t.Fatalf("status stayed %q", st)
		}
		time.Sleep(200 * time.Millisecond)
		st, _, _ = s.client.Status(ctx, tok)
	}
	s.mailpit.WaitForMessages(t, `to:"`+meNorm+`" subject:"당첨"`, 1, 30*time.Second)
	after, _ := s.client.Stats(ctx)
	if after.Winners != before.Winners+1 || after.Remaining != 0 {
		t.Fatalf("winners %d→%d remaining %d: want exactly one more winner and none left", before.Winners, after.Winners, after.Remaining)
	}

	// 6. After sell-out another participant gets EVENT_CLOSED or FAILURE, and no confirmation.
	minter, err := stackclient.NewMinter(s.env)
	if err != nil {
		t.Fatal(err)
	}
	other := testinfra.UniqueName("e2e-late-") + "@example.com"
	otherTok, _ := minter.Mint(other, time.Now())
	r, _ = s.client.Apply(ctx, otherTok)
	switch {
	case r.HTTPStatus == 409 && r.Envelope.Code == "EVENT_CLOSED":
	case r.HTTPStatus == 202:
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, _, _ := s.client.Status(ctx, otherTok)
			if st == "FAILURE" {
				break
			}
			if st == "SUCCESS" || time.Now().After(deadline) {
				t.Fatalf("late participant status = %q, want FAILURE", st)
			}
			time.Sleep(200 * time.Millisecond)
		}
	default:
		t.Fatalf("late apply: %d %s", r.HTTPStatus, r.Envelope.Code)
	}
	time.Sleep(time.Second)
	if got, _ := s.mailpit.Search(ctx, `to:"`+other+`" subject:"당첨"`); len(got) != 0 {
		t.Fatalf("late participant got %d confirmation email(s)", len(got))
	}
	// Exactly one confirmation for the winner, however the messages were replayed.
	if got, _ := s.mailpit.Search(ctx, `to:"`+meNorm+`" subject:"당첨"`); len(got) != 1 {
		t.Fatalf("winner got %d confirmation emails, want 1", len(got))
	}
}

// TestNginxRoutesToBothReplicas checks nginx sends /api/auth/ to the auth
// replicas and /api/event/ to the apply-gateway replicas, using both.
func TestNginxRoutesToBothReplicas(t *testing.T) {
	s := newStack(t)
	routes := []struct {
		method string
		path   string
		body   any
		ports  map[string]bool
	}{
		{http.MethodPost, "/api/auth/verify-code", map[string]string{}, map[string]bool{"8081": false, "8082": false}},
		{http.MethodGet, "/api/event/status", nil, map[string]bool{"8083": false, "8084": false}},
	}
	for _, rt := range routes {
		for i := 0; i < 20; i++ {
			r, err := s.client.Do(context.Background(), rt.method, rt.path, rt.body, nil)
			if err != nil {
				t.Fatal(err)
			}
			// After a failover nginx lists every upstream it tried; the last answered.
			up := r.Header.Get("X-Upstream-Addr")
			port := up[strings.LastIndex(up, ":")+1:]
			if _, ok := rt.ports[port]; !ok {
				t.Fatalf("%s went to %q, want one of %v", rt.path, up, rt.ports)
			}
			rt.ports[port] = true
		}
		for p, hit := range rt.ports {
			if !hit {
				t.Fatalf("%s never reached the replica on port %s", rt.path, p)
			}
		}
	}
}
