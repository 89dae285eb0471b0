package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admin"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
)

const testAdminKey = "gw-admin-key-Zq8Lm2Xv7Rt4Wn9Ps1"

// fakeAdmin answers the admin figures without any I/O and counts the calls
// that got past the key check.
type fakeAdmin struct{ calls atomic.Int64 }

func (f *fakeAdmin) SetStock(context.Context, int64) (admin.Stats, error) {
	f.calls.Add(1)
	return admin.Stats{}, nil
}

func (f *fakeAdmin) SetWindow(context.Context, time.Time, time.Time) (admin.Stats, error) {
	f.calls.Add(1)
	return admin.Stats{}, nil
}

func (f *fakeAdmin) Stats(context.Context) (admin.Stats, error) {
	f.calls.Add(1)
	return admin.Stats{EventID: "ev", Total: 3}, nil
}

func (f *fakeAdmin) ExportWinners(context.Context, func([]admin.Winner) error) error {
	f.calls.Add(1)
	return nil
}

// fakeApplier is the participant side the admin routes touch: the local
// sold-out flag.
type fakeApplier struct{}

func (fakeApplier) ApplyFor(context.Context, string, string) (*fairlog.Receipt, error) {
	return nil, nil
}
func (fakeApplier) Status(context.Context, string) (admission.View, error) {
	return admission.View{Status: admission.Pending}, nil
}
func (fakeApplier) SetSoldOut(bool) {}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// newAdminEngine is the gateway's engine with a fake admin side; trusted
// lists the proxies whose X-Forwarded-For is believed.
func newAdminEngine(t testing.TB, trusted []string, limiter *failureLimiter) (http.Handler, *fakeAdmin) {
	t.Helper()
	cfg := httpserver.DefaultConfig("127.0.0.1:0")
	cfg.TrustedProxies = trusted
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := httpserver.New(cfg, log, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fa := &fakeAdmin{}
	h := NewHandlers(fakeApplier{}, fa, nil, testAdminKey, log)
	if limiter != nil {
		h.adminFailures = limiter
	}
	h.Register(srv.Engine())
	return srv.Handler(), fa
}

type answer struct {
	status     int
	code       string
	retryAfter string
}

func adminCall(t testing.TB, h http.Handler, remote, forwardedFor, key string) answer {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/admin/event", nil)
	req.RemoteAddr = remote + ":40000"
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	if key != "" {
		req.Header.Set("X-ADMIN-KEY", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env httpserver.Envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Status != rec.Code {
		t.Fatalf("not the JSON envelope: %d %q", rec.Code, rec.Body.String())
	}
	return answer{status: rec.Code, code: env.Code, retryAfter: rec.Header().Get("Retry-After")}
}

func TestRepeatedWrongAdminKeysFromOneClientAre429(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	h, fa := newAdminEngine(t, nil, newFailureLimiter(DefaultAdminFailures, time.Minute, 100, clock.now))
	attacker, bystander := "203.0.113.7", "198.51.100.9"

	// A missing key is 403 but guesses nothing, so it does not count: a
	// scanner without a key cannot lock the operators out.
	for i := 0; i < 3*DefaultAdminFailures; i++ {
		if a := adminCall(t, h, attacker, "", ""); a.status != 403 || a.code != CodeInvalidAdminKey {
			t.Fatalf("missing key %d: got %+v, want 403 %s", i+1, a, CodeInvalidAdminKey)
		}
	}
	// Wrong keys are 403 and count.
	guesses := []string{"nope", strings.Repeat("x", len(testAdminKey)), testAdminKey[:len(testAdminKey)-1] + "!", testAdminKey + "x", "guess"}
	for i := 0; i < DefaultAdminFailures; i++ {
		if a := adminCall(t, h, attacker, "", guesses[i%len(guesses)]); a.status != 403 || a.code != CodeInvalidAdminKey {
			t.Fatalf("failure %d: got %+v, want 403 %s", i+1, a, CodeInvalidAdminKey)
		}
		clock.advance(time.Second)
	}
	// The next attempt, right key or not, is 429 with Retry-After until the
	// window (opened by the first failure) ends.
	for _, key := range []string{"still-guessing", testAdminKey} {
		a := adminCall(t, h, attacker, "", key)
		if a.status != 429 || a.code != httpserver.CodeTooManyRequests {
			t.Fatalf("key %q after %d failures: got %+v, want 429", key, DefaultAdminFailures, a)
		}
		if secs, err := strconv.Atoi(a.retryAfter); err != nil || secs != 50 {
			t.Fatalf("Retry-After = %q, want 50 (window of 60s opened 10s ago)", a.retryAfter)
		}
	}
	if fa.calls.Load() != 0 {
		t.Fatalf("%d admin calls got through", fa.calls.Load())
	}
	// Another client is not affected, and may use the right key.
	if a := adminCall(t, h, bystander, "", testAdminKey); a.status != 200 {
		t.Fatalf("bystander with the right key: %+v", a)
	}
	// Once the window ends the attacker's slate is clean again.
	clock.advance(51 * time.Second)
	if a := adminCall(t, h, attacker, "", testAdminKey); a.status != 200 {
		t.Fatalf("after the window: %+v", a)
	}
	if a := adminCall(t, h, attacker, "", "nope"); a.status != 403 {
		t.Fatalf("first failure of a new window: %+v", a)
	}
}

// TestAdminLimiterKnowsClientsByTheirRealAddress: X-Forwarded-For from an
// untrusted peer cannot pick a fresh address per guess, while behind a
// trusted proxy (nginx) each client is counted on its own.
func TestAdminLimiterKnowsClientsByTheirRealAddress(t *testing.T) {
	t.Parallel()
	t.Run("untrusted peer cannot spoof", func(t *testing.T) {
		t.Parallel()
		h, _ := newAdminEngine(t, nil, nil)
		for i := 0; i < DefaultAdminFailures; i++ {
			adminCall(t, h, "203.0.113.7", fmt.Sprintf("10.0.0.%d", i), "nope")
		}
		if a := adminCall(t, h, "203.0.113.7", "10.0.0.200", testAdminKey); a.status != 429 {
			t.Fatalf("a spoofed X-Forwarded-For escaped the limit: %+v", a)
		}
	})
	t.Run("clients behind a trusted proxy are counted apart", func(t *testing.T) {
		t.Parallel()
		h, _ := newAdminEngine(t, []string{"127.0.0.1"}, nil)
		// nginx appends the client it sees; a client-supplied first hop is ignored.
		for i := 0; i < DefaultAdminFailures; i++ {
			adminCall(t, h, "127.0.0.1", fmt.Sprintf("10.9.9.%d, 203.0.113.7", i), "nope")
		}
		if a := adminCall(t, h, "127.0.0.1", "1.1.1.1, 203.0.113.7", testAdminKey); a.status != 429 {
			t.Fatalf("attacker behind the proxy: %+v, want 429", a)
		}
		if a := adminCall(t, h, "127.0.0.1", "198.51.100.9", testAdminKey); a.status != 200 {
			t.Fatalf("other client behind the proxy: %+v, want 200", a)
		}
	})
}

func TestFailureLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := newFailureLimiter(3, time.Minute, 50, clock.now)
	for i := 0; i < 1000; i++ {
		l.attempt(fmt.Sprintf("10.0.%d.%d", i/256, i%256), true)
	}
	if n := l.size(); n != 50 {
		t.Fatalf("tracked clients = %d, want the capacity 50", n)
	}
	// The clients already counted keep their counts while the table is full.
	for i := 0; i < 2; i++ {
		l.attempt("10.0.0.0", true)
	}
	if _, blocked, _ := l.attempt("10.0.0.0", false); !blocked {
		t.Fatal("a client counted before the table filled lost its count")
	}
	// Expired windows make room again.
	clock.advance(time.Minute + time.Second)
	l.attempt("192.0.2.1", true)
	if n := l.size(); n != 1 {
		t.Fatalf("after the windows ended: %d clients tracked, want 1", n)
	}
}

// TestAdminKeyTimingDoesNotDependOnTheGuess is a statistical test: the time
// to answer a request with the right key, a wrong key of the same length
// sharing all but its last byte, a wrong key of the same length sharing
// nothing, and a wrong key of another length must not differ by more than
// the noise of the measurement. Samples are interleaved in random order so
// drift of a noisy machine hits every class alike; each sample is the mean
// of a small batch; the bound is the larger of 2×MAD and 5% of the median.
// A comparator that leaks (the control below) is caught by the same
// statistics, so the test can fail.
func TestAdminKeyTimingDoesNotDependOnTheGuess(t *testing.T) {
	// Not parallel: it measures time.
	// A limit high enough that the wrong keys never trip it: every class
	// does the same limiter work as in production.
	h, _ := newAdminEngine(t, nil, newFailureLimiter(1<<62, time.Hour, 10, nil))
	engine := h.(*gin.Engine)
	// Behind the check, a handler whose answer has the size and shape of the
	// 403, so what is left to compare is the key check itself.
	same := httpserver.NewError(http.StatusForbidden, CodeInvalidAdminKey, "관리자 키가 올바르지 않습니다. (invalid admin key)")
	hh := &Handlers{adminKey: handlersKey(testAdminKey), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		adminFailures: newFailureLimiter(1<<62, time.Hour, 10, nil)}
	engine.GET("/timing", hh.requireAdminKey, func(c *gin.Context) { httpserver.WriteError(c, same) })
	classes := map[string]string{
		"right key":                       testAdminKey,
		"wrong, same length, long prefix": testAdminKey[:len(testAdminKey)-1] + "?",
		"wrong, same length, no prefix":   strings.Repeat("#", len(testAdminKey)),
		"wrong, other length (short)":     "x",
	}
	serve := func(key string) {
		req := httptest.NewRequest(http.MethodGet, "/timing", nil)
		req.Header.Set("X-ADMIN-KEY", key)
		rec := httptest.NewRecorder()
		engine.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("timing route answered %d", rec.Code)
		}
	}
	var last string
	var bound float64
	for attempt := 1; ; attempt++ {
		report, ok, b := compareTimings(classes, "right key", serve, 201, 32)
		if ok {
			t.Logf("attempt %d:\n%s", attempt, report)
			bound = b
			break
		}
		last = report
		if attempt == 3 {
			t.Fatalf("admin key timing depends on the guess in 3 of 3 attempts:\n%s", last)
		}
	}

	// Control: a byte-by-byte comparison that stops at the first mismatch
	// and spends time on every matching byte must be flagged by the same
	// statistics, or they prove nothing. Its leak is sized from the noise
	// just measured (a full match costs 8 bounds, at least 16 µs) and
	// doubled on each retry, so a loaded machine cannot hide it.
	perByte := max(time.Duration(bound/4), 500*time.Nanosecond)
	for attempt := 1; ; attempt++ {
		leak := perByte
		leaky := func(key string) {
			for i := 0; i < len(key) && i < len(testAdminKey) && key[i] == testAdminKey[i]; i++ {
				spin(leak)
			}
			serve("x")
		}
		report, ok, _ := compareTimings(classes, "right key", leaky, 61, 8)
		if !ok {
			break
		}
		if attempt == 3 {
			t.Fatalf("the statistics did not catch a leaking comparison (%s per matching byte):\n%s", leak, report)
		}
		perByte *= 2
	}
	// (The test resolves differences above its bound, a few µs under the
	// race detector on an idle machine; hashing both sides makes the real
	// check's cost independent of the guess, whatever the resolution.)
}

func handlersKey(k string) [32]byte { return NewHandlers(nil, nil, nil, k, nil).adminKey }

// compareTimings measures every class in rounds of batches and reports
// whether each median is within the bound of the reference class's median,
// and the bound.
func compareTimings(classes map[string]string, reference string, call func(key string), rounds, batch int) (string, bool, float64) {
	names := make([]string, 0, len(classes))
	for n := range classes {
		names = append(names, n)
	}
	slices.Sort(names)
	samples := make(map[string][]float64, len(names))
	for _, n := range names { // warm up caches and the pool of contexts
		for i := 0; i < 200; i++ {
			call(classes[n])
		}
	}
	for r := 0; r < rounds; r++ {
		order := slices.Clone(names)
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, n := range order {
			key := classes[n]
			start := time.Now()
			for i := 0; i < batch; i++ {
				call(key)
			}
			samples[n] = append(samples[n], float64(time.Since(start).Nanoseconds())/float64(batch))
		}
	}
	// The noise: deviations of each sample from its own class's median,
	// pooled, so a real difference between classes does not widen the bound.
	var deviations []float64
	for _, n := range names {
		m := median(samples[n])
		for _, x := range samples[n] {
			deviations = append(deviations, max(x-m, m-x))
		}
	}
	noise := median(deviations)
	ref := median(samples[reference])
	bound := max(2*noise, 0.05*ref)
	ok := true
	var b strings.Builder
	fmt.Fprintf(&b, "  bound %.0f ns (2×MAD %.0f, 5%% of median %.0f)\n", bound, 2*noise, 0.05*ref)
	for _, n := range names {
		m := median(samples[n])
		flag := ""
		if d := m - ref; d > bound || -d > bound {
			ok, flag = false, "  <-- differs"
		}
		fmt.Fprintf(&b, "  %-34s median %7.0f ns (%+.0f)%s\n", n, m, m-ref, flag)
	}
	return b.String(), ok, bound
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}
