package httpserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// TestDrainDelayKeepsServingWhileNotReady: after the stop, /readyz fails at
// once while other routes are still answered for the drain delay; then the
// listener closes. Without the delay the listener closes at once.
func TestDrainDelayKeepsServingWhileNotReady(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delay     time.Duration
		servesOn  bool
		readyCode int
	}{
		{"with a drain delay", 2 * time.Second, true, http.StatusServiceUnavailable},
		{"without one", 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig("127.0.0.1:0")
			cfg.DrainDelay = tc.delay
			s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Engine().GET("/work", func(c *gin.Context) { WriteOK(c, http.StatusOK, "ok", nil) })
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			base := "http://" + ln.Addr().String()
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, ln) }()
			client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			if code := status(t, client, base+"/readyz"); code != http.StatusOK {
				t.Fatalf("/readyz before the stop = %d", code)
			}
			keepAlive := &http.Client{Timeout: time.Second, Transport: &http.Transport{}}
			if closes(t, keepAlive, base+"/work") {
				t.Fatal("an answer before the stop closed its keep-alive connection")
			}
			stop()
			// Serve marks itself draining right after ctx ends; wait until it has.
			for !s.draining.Load() {
				time.Sleep(time.Millisecond)
			}
			if tc.servesOn {
				// Well into the delay: a server without one has closed by now.
				time.Sleep(500 * time.Millisecond)
				if code := status(t, client, base+"/readyz"); code != tc.readyCode {
					t.Fatalf("/readyz while draining = %d, want %d", code, tc.readyCode)
				}
				if code := status(t, client, base+"/work"); code != http.StatusOK {
					t.Fatalf("/work while draining = %d, want 200", code)
				}
				// The proxy drops the connection after this answer instead of
				// reusing it while the server closes it.
				if !closes(t, keepAlive, base+"/work") {
					t.Fatal("an answer while draining kept its connection open (no Connection: close)")
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if resp, err := client.Get(base + "/work"); err == nil {
				_ = resp.Body.Close()
				t.Fatal("the listener still accepts after the shutdown")
			}
		})
	}
}

func status(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// closes reports whether the answer to a GET of url told the client to close
// the connection (Connection: close).
func closes(t *testing.T, c *http.Client, url string) bool {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.Close
}
