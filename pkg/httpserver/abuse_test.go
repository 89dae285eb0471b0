package httpserver

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// serveOnLoopback runs a server with cfg on a real listener until the test
// ends and returns its address.
func serveOnLoopback(t *testing.T, cfg Config) string {
	t.Helper()
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestSlowHeadersAreCutOff: a client that sends its headers slowly
// (slowloris), or starts and stops, is disconnected by ReadHeaderTimeout
// without an answer from a handler, while a normal request on the same
// server is served.
func TestSlowHeadersAreCutOff(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig("127.0.0.1:0")
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	addr := serveOnLoopback(t, cfg)

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("normal request: %v %v", resp, err)
	}
	resp.Body.Close()

	tests := []struct {
		name string
		// dribble sends one more header byte every interval (0: none).
		dribble time.Duration
	}{
		{name: "stalled after the request line", dribble: 0},
		{name: "one byte every 50ms", dribble: 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
				t.Fatal(err)
			}
			closed := make(chan time.Duration, 1)
			go func() {
				// Reads until the server hangs up; the deadline only keeps a
				// broken server from hanging the test.
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				got, _ := io.ReadAll(bufio.NewReader(conn))
				if strings.Contains(string(got), "200 OK") {
					t.Errorf("a handler answered an incomplete request: %q", got)
				}
				closed <- time.Since(start)
			}()
			if tt.dribble > 0 {
				tick := time.NewTicker(tt.dribble)
				defer tick.Stop()
			loop:
				for {
					select {
					case <-tick.C:
						if _, err := io.WriteString(conn, "X"); err != nil {
							break loop // the server closed the connection
						}
					case d := <-closed:
						closed <- d
						break loop
					}
				}
			}
			d := <-closed
			if d < cfg.ReadHeaderTimeout-50*time.Millisecond || d > 3*time.Second {
				t.Fatalf("connection closed after %s, want about ReadHeaderTimeout (%s)", d, cfg.ReadHeaderTimeout)
			}
		})
	}
}

// TestDefaultReadHeaderTimeout pins the production default.
func TestDefaultReadHeaderTimeout(t *testing.T) {
	t.Parallel()
	if got := DefaultConfig(":0").ReadHeaderTimeout; got != 5*time.Second {
		t.Fatalf("ReadHeaderTimeout = %s, want 5s", got)
	}
}

// TestClientIPIgnoresForwardedForFromUntrustedPeers: without trusted
// proxies the client is the TCP peer, whatever X-Forwarded-For says; behind
// a trusted proxy it is the last address that proxy saw.
func TestClientIPIgnoresForwardedForFromUntrustedPeers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, remote, xff string
		trusted           []string
		want              string
	}{
		{"no proxies trusted", "203.0.113.7", "10.1.1.1", nil, "203.0.113.7"},
		{"untrusted peer", "203.0.113.7", "10.1.1.1", []string{"127.0.0.1"}, "203.0.113.7"},
		{"trusted proxy", "127.0.0.1", "198.51.100.9", []string{"127.0.0.1"}, "198.51.100.9"},
		{"spoofed first hop behind a trusted proxy", "127.0.0.1", "10.1.1.1, 198.51.100.9", []string{"127.0.0.1"}, "198.51.100.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig("127.0.0.1:0")
			cfg.TrustedProxies = tt.trusted
			s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Engine().GET("/ip", func(c *gin.Context) { c.String(200, c.ClientIP()) })
			req := httptest.NewRequest("GET", "/ip", nil)
			req.RemoteAddr = tt.remote + ":40000"
			req.Header.Set("X-Forwarded-For", tt.xff)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Body.String() != tt.want {
				t.Fatalf("client IP = %q, want %q", rec.Body.String(), tt.want)
			}
		})
	}
	cfg := DefaultConfig("127.0.0.1:0")
	cfg.TrustedProxies = []string{"nginx"}
	if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), nil); err == nil {
		t.Fatal("New accepted a trusted proxy that is not an address")
	}
}
