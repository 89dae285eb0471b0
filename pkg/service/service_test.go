package service

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/config"
)

func testConfig() config.Common {
	return config.Common{
		Service: "test", Instance: "test-1", HTTPAddr: "127.0.0.1:0", LogLevel: "error",
		RedisAddr: "127.0.0.1:1", KafkaBrokers: []string{"127.0.0.1:1"}, EventID: "test",
		StartupTimeout: time.Second, ShutdownTimeout: 5 * time.Second,
	}
}

func newRuntime(t *testing.T, ctx context.Context, cfg config.Common) *Runtime {
	t.Helper()
	r, err := New(ctx, cfg, Options{LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// journal records the order in which the parts of a run stopped.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

// untilStopped is a component that runs until its context ends and then
// takes a moment to drain, as a real server or consumer does.
func untilStopped(j *journal, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond)
		j.add(name + " stopped")
		return nil
	}
}

func closing(j *journal, name string) func() error {
	return func() error { j.add(name + " closed"); return nil }
}

// TestRunShutsDownInOrder: HTTP intake stops before the consumers and
// background tasks, which stop before OnStop resources close, then the
// producers flush, then the clients close, whatever the registration order.
func TestRunShutsDownInOrder(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newRuntime(t, ctx, testConfig())
	j := &journal{}
	r.intake = []component{{name: "http server", run: untilStopped(j, "http")}}
	r.AddClient("redis", func(context.Context) error { return nil }, closing(j, "redis"))
	r.AddClient("mysql", func(context.Context) error { return nil }, closing(j, "mysql"))
	r.producers = append(r.producers, closer{name: "producer", close: closing(j, "producer")})
	r.OnStop("smtp", closing(j, "smtp"))
	r.workers = append(r.workers, component{name: "group", run: untilStopped(j, "group")})

	errc := make(chan error, 1)
	go func() { errc <- r.Run() }()
	time.Sleep(50 * time.Millisecond)
	if got := j.list(); len(got) != 0 {
		t.Fatalf("stopped before being asked to: %v", got)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v, want nil after a requested stop", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the stop")
	}
	want := []string{"http stopped", "group stopped", "smtp closed", "producer closed", "mysql closed", "redis closed"}
	if got := j.list(); !slices.Equal(got, want) {
		t.Fatalf("shutdown order = %v, want %v", got, want)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close after Run = %v", err)
	}
	if got := j.list(); len(got) != len(want) {
		t.Fatalf("Close after Run closed again: %v", got)
	}
}

// TestRunStopsWhenAComponentFails: a failing background task ends the run
// like a signal does, in the same order, and Run reports the failure.
func TestRunStopsWhenAComponentFails(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, context.Background(), testConfig())
	j := &journal{}
	boom := errors.New("lost the broker")
	r.intake = []component{{name: "http server", run: untilStopped(j, "http")}}
	r.producers = append(r.producers, closer{name: "producer", close: closing(j, "producer")})
	r.Go("watcher", func(context.Context) error { time.Sleep(10 * time.Millisecond); return boom })
	r.workers = append(r.workers, component{name: "group", run: untilStopped(j, "group")})

	err := r.Run()
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "watcher") {
		t.Fatalf("Run = %v, want the watcher's error", err)
	}
	want := []string{"http stopped", "group stopped", "producer closed"}
	if got := j.list(); !slices.Equal(got, want) {
		t.Fatalf("shutdown order = %v, want %v", got, want)
	}
}

// TestRunGivesUpAtTheShutdownDeadline: a stage that never stops does not hold
// the process past the shutdown timeout, and the producers are not closed
// under it.
func TestRunGivesUpAtTheShutdownDeadline(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ShutdownTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	r := newRuntime(t, ctx, cfg)
	j := &journal{}
	hung := make(chan struct{})
	defer close(hung)
	r.intake = []component{{name: "http server", run: untilStopped(j, "http")}}
	r.workers = append(r.workers, component{name: "stuck", run: func(context.Context) error { <-hung; return nil }})
	r.producers = append(r.producers, closer{name: "producer", close: closing(j, "producer")})

	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	err := r.Run()
	if err == nil || !strings.Contains(err.Error(), "did not finish within 200ms") {
		t.Fatalf("Run = %v, want a shutdown deadline error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Run took %s, the deadline is 200ms", took)
	}
	_ = r.Close()
	if got := j.list(); !slices.Equal(got, []string{"http stopped"}) {
		t.Fatalf("after the deadline = %v, want only the HTTP server stopped", got)
	}
}

// TestReadinessFailsWhileACheckFails: /readyz is 503 naming the failing
// dependency while its check fails, and 200 once every check answers.
func TestReadinessFailsWhileACheckFails(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, context.Background(), testConfig())
	var redisDown atomic.Bool
	redisDown.Store(true)
	r.Ready("kafka", func(context.Context) error { return nil })
	r.Ready("redis", func(context.Context) error {
		if redisDown.Load() {
			return errors.New("connection refused")
		}
		return nil
	})
	readyz := func() (int, map[string]any) {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("readyz body %q: %v", rec.Body.String(), err)
		}
		return rec.Code, body
	}

	code, body := readyz()
	failed, _ := body["result"].(map[string]any)
	if code != http.StatusServiceUnavailable || failed["redis"] == nil || failed["kafka"] != nil {
		t.Fatalf("while redis fails: %d %v, want 503 naming only redis", code, body)
	}
	redisDown.Store(false)
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("once every check answers: %d %v, want 200", code, body)
	}
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/healthz = %d", rec.Code)
	}
}

// TestRetryGivesUpAtTheDeadlineWithTheLastError: a dependency that never
// answers is retried until the context's deadline, not past it, and the
// error says which dependency and carries the last failure.
func TestRetryGivesUpAtTheDeadlineWithTheLastError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	var attempts int
	start := time.Now()
	err := Retry(ctx, discard(), "redis", func(context.Context) error {
		attempts++
		return &attemptError{n: attempts}
	})
	took := time.Since(start)
	var last *attemptError
	if !errors.As(err, &last) || last.n != attempts {
		t.Fatalf("Retry = %v, want the last attempt's error (attempt %d)", err, attempts)
	}
	if !strings.Contains(err.Error(), "redis not available by the start-up deadline") {
		t.Fatalf("Retry = %v, want it to name the dependency", err)
	}
	if attempts < 2 {
		t.Fatalf("attempts = %d, want retries before the deadline", attempts)
	}
	if took < 550*time.Millisecond || took > 1100*time.Millisecond {
		t.Fatalf("Retry gave up after %s, want about the 600ms deadline", took)
	}
}

// TestRetryKeepsTheDependencysErrorWhenTheDeadlineCutsAnAttempt: an attempt
// still running at the deadline fails with the context's error; the
// dependency's own failure before it is what Retry reports.
func TestRetryKeepsTheDependencysErrorWhenTheDeadlineCutsAnAttempt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	refused := errors.New("connection refused")
	attempts := 0
	err := Retry(ctx, discard(), "kafka", func(ctx context.Context) error {
		attempts++
		if attempts == 1 {
			return refused
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, refused) || errors.Is(err, context.DeadlineExceeded) || attempts != 2 {
		t.Fatalf("Retry = %v after %d attempts, want the refusal of attempt 1", err, attempts)
	}
}

func TestRetrySucceedsOnceTheDependencyAnswers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	attempts := 0
	err := Retry(ctx, discard(), "mysql", func(context.Context) error {
		attempts++
		if attempts < 3 {
			return errors.New("connection refused")
		}
		return nil
	})
	if err != nil || attempts != 3 {
		t.Fatalf("Retry = %v after %d attempts, want nil after 3", err, attempts)
	}
}

// TestConnectUsesTheStartupDeadline: Connect gives up at the configured
// start-up timeout and returns the zero value.
func TestConnectUsesTheStartupDeadline(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.StartupTimeout = 300 * time.Millisecond
	r := newRuntime(t, context.Background(), cfg)
	start := time.Now()
	v, err := Connect(r, "store", func(context.Context) (*int, error) { return nil, errors.New("no scripts") })
	if err == nil || v != nil || !strings.Contains(err.Error(), "no scripts") {
		t.Fatalf("Connect = %v, %v", v, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Connect gave up after %s, the start-up timeout is 300ms", took)
	}
}

func TestNewRefusesAnInvalidConfig(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ShutdownTimeout = 0
	if _, err := New(context.Background(), cfg, Options{LogOutput: io.Discard}); err == nil || !strings.Contains(err.Error(), "FAREWELL_SHUTDOWN_TIMEOUT") {
		t.Fatalf("New = %v, want a refusal naming FAREWELL_SHUTDOWN_TIMEOUT", err)
	}
}

type attemptError struct{ n int }

func (e *attemptError) Error() string { return "connection refused" }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
