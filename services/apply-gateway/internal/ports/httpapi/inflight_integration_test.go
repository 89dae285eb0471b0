//go:build !fuzzing

package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ports/httpapi"
)

// heldAnnouncer holds the first publish until release receives its outcome
// (nil: publish for real), so a second apply arrives while it is in flight.
type heldAnnouncer struct {
	next    admission.Announcer
	held    chan struct{}
	release chan error
	calls   chan struct{}
}

func newHeldAnnouncer(next admission.Announcer) *heldAnnouncer {
	return &heldAnnouncer{next: next, held: make(chan struct{}), release: make(chan error, 1), calls: make(chan struct{}, 10)}
}

func (h *heldAnnouncer) Announce(ctx context.Context, a admission.Application) (admission.Place, error) {
	h.calls <- struct{}{}
	if len(h.calls) == 1 {
		close(h.held)
		select {
		case err := <-h.release:
			if err != nil {
				return admission.Place{}, err
			}
		case <-time.After(10 * time.Second):
			return admission.Place{}, errors.New("held publish never released")
		}
	}
	return h.next.Announce(ctx, a)
}

// applyInFlight starts a first apply whose publish is held, and returns its
// answer channel once the publish is in flight.
func applyInFlight(t *testing.T, g *gateway, h *heldAnnouncer, email string) <-chan int {
	t.Helper()
	first := make(chan int, 1)
	go func() {
		resp, _ := g.do("POST", "/api/event/apply", "", g.bearer(email))
		first <- resp.StatusCode
	}()
	select {
	case <-h.held:
	case <-time.After(5 * time.Second):
		t.Fatal("first publish never started")
	}
	return first
}

func TestSecondApplyWhileTheFirstPublishFailsIsAdmitted(t *testing.T) {
	var h *heldAnnouncer
	g := newGatewayFull(t, gatewayOptions{wrap: func(a admission.Announcer) admission.Announcer { h = newHeldAnnouncer(a); return h }})
	g.setStock(3)
	first := applyInFlight(t, g, h, "twice@example.com")
	second := make(chan int, 1)
	go func() {
		resp, _ := g.do("POST", "/api/event/apply", "", g.bearer("twice@example.com"))
		second <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond)
	h.release <- errors.New("broker did not acknowledge")
	if c := <-first; c != http.StatusServiceUnavailable {
		t.Fatalf("first apply = %d, want 503", c)
	}
	// The second must not have been told "already applied" about an
	// application that was never durable: it is admitted and published.
	if c := <-second; c != http.StatusAccepted {
		t.Fatalf("second apply = %d, want 202", c)
	}
	msgs := testinfra.ReadUntilIdle(t, g.brokers, g.appsTopic, 2*time.Second)
	if len(msgs) != 1 || string(msgs[0].Key) != "twice@example.com" {
		t.Fatalf("kafka got %d messages, want the second apply's only", len(msgs))
	}
}

func TestSecondApplyWhileTheFirstPublishSucceedsIsAlreadyApplied(t *testing.T) {
	var h *heldAnnouncer
	g := newGatewayFull(t, gatewayOptions{wrap: func(a admission.Announcer) admission.Announcer { h = newHeldAnnouncer(a); return h }})
	g.setStock(3)
	first := applyInFlight(t, g, h, "once@example.com")
	second := make(chan int, 1)
	go func() {
		resp, _ := g.do("POST", "/api/event/apply", "", g.bearer("once@example.com"))
		second <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case c := <-second:
		t.Fatalf("second apply answered %d while the first publish was in flight", c)
	default:
	}
	h.release <- nil
	if c := <-first; c != http.StatusAccepted {
		t.Fatalf("first apply = %d, want 202", c)
	}
	if c := <-second; c != http.StatusConflict {
		t.Fatalf("second apply = %d, want 409 once the first is durable", c)
	}
	if n := len(testinfra.ReadUntilIdle(t, g.brokers, g.appsTopic, 2*time.Second)); n != 1 {
		t.Fatalf("kafka messages = %d, want 1", n)
	}
}

func TestSecondApplyWhileTheFirstPublishHangsAnswers503(t *testing.T) {
	var h *heldAnnouncer
	g := newGatewayFull(t, gatewayOptions{wrap: func(a admission.Announcer) admission.Announcer { h = newHeldAnnouncer(a); return h }})
	g.setStock(3)
	first := applyInFlight(t, g, h, "slow@example.com")
	start := time.Now()
	resp, env := g.do("POST", "/api/event/apply", "", g.bearer("slow@example.com"))
	expect(t, resp, env, http.StatusServiceUnavailable, httpapi.CodeApplicationInProgress)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	// The wait is bounded: the publish timeout (2 s) plus the settle's 1 s.
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("second apply waited %s", took)
	}
	h.release <- nil
	<-first
}

// TestStrandedAdmissionIsTakenOver: an admission left unpublished by a
// crashed gateway (its marker older than the grace) is taken over by the
// participant's retry, which publishes it.
func TestStrandedAdmissionIsTakenOver(t *testing.T) {
	g := newGateway(t, false)
	g.setStock(3)
	k := redisx.KeysFor(g.eventID)
	ctx := context.Background()
	old := time.Now().Add(-10 * time.Second).UnixMilli()
	g.rdb.HSet(ctx, k.Applied, "stranded@example.com", "A:"+strconv.FormatInt(old, 10))
	resp, env := g.do("POST", "/api/event/apply", "", g.bearer("stranded@example.com"))
	expect(t, resp, env, http.StatusAccepted, "OK")
	if v, _ := g.rdb.HGet(ctx, k.Applied, "stranded@example.com").Result(); v == "" || v[0] != 'P' {
		t.Fatalf("marker after takeover = %q, want P:", v)
	}
	if n := len(testinfra.ReadUntilIdle(t, g.brokers, g.appsTopic, 2*time.Second)); n != 1 {
		t.Fatalf("kafka messages = %d, want 1", n)
	}
}
