package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config holds the HTTP server settings every service shares.
type Config struct {
	Addr              string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
	// DrainDelay keeps serving this long after ctx ends, with /readyz failing,
	// before the listener closes (zero closes it at once).
	DrainDelay   time.Duration
	MaxBodyBytes int64
	// TrustedProxies are the peers (IPs or CIDRs) whose X-Forwarded-For
	// names the client, for per-client limits and logs. Empty trusts nobody:
	// the client is the TCP peer, so a client cannot pick its own address.
	TrustedProxies []string
}

// DefaultConfig returns safe defaults for addr.
func DefaultConfig(addr string) Config {
	return Config{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		ShutdownTimeout:   20 * time.Second,
		MaxBodyBytes:      16 << 10,
	}
}

// Check is one readiness check: a dependency that must answer.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Server is a gin engine with Farewell's middleware and operational endpoints.
type Server struct {
	cfg      Config
	log      *slog.Logger
	engine   *gin.Engine
	checks   []Check
	draining atomic.Bool
}

// New builds a server. Routes are added on Engine() before Run.
func New(cfg Config, log *slog.Logger, reg *prometheus.Registry, checks []Check) (*Server, error) {
	if cfg.Addr == "" {
		return nil, errors.New("httpserver: empty listen address")
	}
	// gin keeps its mode in a package variable; release mode only silences
	// its debug output, so setting it here is harmless.
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, log: log, engine: gin.New(), checks: checks}
	m, err := newHTTPMetrics(reg)
	if err != nil {
		return nil, err
	}
	e := s.engine
	// gin trusts every peer's X-Forwarded-For unless told otherwise.
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("httpserver: trusted proxies: %w", err)
	}
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(s.middleware(m))
	e.NoRoute(func(c *gin.Context) { WriteError(c, errNotFound) })
	e.NoMethod(func(c *gin.Context) { WriteError(c, errMethodNotAllowed) })
	e.GET("/healthz", func(c *gin.Context) { WriteOK(c, http.StatusOK, "alive", nil) })
	e.GET("/readyz", s.ready)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	return s, nil
}

// AddCheck adds a readiness check. Checks are added before Run.
func (s *Server) AddCheck(c Check) { s.checks = append(s.checks, c) }

// Engine returns the gin engine to register routes on.
func (s *Server) Engine() *gin.Engine { return s.engine }

// Handler returns the server as an http.Handler (used by tests).
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) ready(c *gin.Context) {
	if s.draining.Load() {
		WriteError(c, NewError(http.StatusServiceUnavailable, CodeUnavailable, "shutting down"))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	failed := map[string]string{}
	for _, ch := range s.checks {
		if err := ch.Ping(ctx); err != nil {
			failed[ch.Name] = err.Error()
		}
	}
	if len(failed) > 0 {
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, Envelope{
			Status: http.StatusServiceUnavailable, Code: "NOT_READY",
			Message: "dependencies not ready", Result: failed,
		})
		return
	}
	WriteOK(c, http.StatusOK, "ready", nil)
}

// Run listens on the configured address and serves until ctx is cancelled,
// then stops accepting connections and waits up to ShutdownTimeout for
// in-flight requests.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (tests listen on port 0).
// It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Addr:              s.cfg.Addr,
		Handler:           s.engine,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info("http server listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	if s.cfg.DrainDelay > 0 {
		s.log.Info("draining: not ready, still serving", "for", s.cfg.DrainDelay.String())
		select {
		case err := <-errc:
			return fmt.Errorf("serve %s: %w", ln.Addr(), err)
		case <-time.After(s.cfg.DrainDelay):
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown %s: %w", ln.Addr(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	s.log.Info("http server stopped")
	return nil
}

// middleware is everything each request goes through before its route, in
// one function (one frame, one clock read): the request id, the drain's
// "Connection: close", panic recovery, the body limit, and afterwards the
// metrics and the access log line.
func (s *Server) middleware(m *httpMetrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := requestID(c)
		s.closeWhileDraining(c)
		s.serveProtected(c)
		s.observe(c, m, id, time.Since(start))
	}
}

// requestID keeps the client's X-Request-ID (up to 64 bytes) or makes one,
// and answers with it; RequestID reads it back.
func requestID(c *gin.Context) string {
	id := c.GetHeader(headerRequestID)
	if id == "" || len(id) > 64 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Header(headerRequestID, id)
	return id
}

const headerRequestID = "X-Request-ID"

// RequestID returns the request's id (as answered in X-Request-ID), for
// log lines of the request.
func RequestID(c *gin.Context) string { return c.Writer.Header().Get(headerRequestID) }

// closeWhileDraining answers with "Connection: close" once the server is
// draining, so the proxy in front drops each connection it uses after its
// answer. Only a client can close an idle keep-alive connection safely: when
// the server closes it at shutdown, the proxy may be writing the next request
// on it at that moment and sees a reset, which it cannot re-send when it is
// a POST. Connections still idle when the drain delay ends are the proxy's
// to time out (nginx's upstream keepalive_timeout below the drain delay).
func (s *Server) closeWhileDraining(c *gin.Context) {
	if s.draining.Load() {
		c.Header("Connection", "close")
	}
}

// serveProtected runs the rest of the chain with the body limit, and turns
// a panic into a 500 (http.ErrAbortHandler goes on: it cuts the connection).
func (s *Server) serveProtected(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic in handler", "panic", fmt.Sprint(r), "route", routeLabel(c))
			WriteError(c, errInternal)
		}
	}()
	if c.Request.ContentLength > s.cfg.MaxBodyBytes {
		WriteError(c, errBodyTooLarge)
		return
	}
	// net/http gives a request without a body NoBody: nothing to limit.
	if c.Request.Body != http.NoBody {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	}
	c.Next()
}

// observe counts and times the request and logs one line for it: the
// route, never the query string, the body or headers, so tokens and codes
// cannot leak into logs.
func (s *Server) observe(c *gin.Context, m *httpMetrics, id string, took time.Duration) {
	status := c.Writer.Status()
	route := routeLabel(c)
	method := methodLabel(c.Request.Method)
	m.observe(route, method, status, took)
	lvl := slog.LevelInfo
	if status >= 500 {
		lvl = slog.LevelError
	}
	if route == "/healthz" || route == "/readyz" || route == "/metrics" {
		lvl = slog.LevelDebug
	}
	ctx := c.Request.Context()
	if !s.log.Enabled(ctx, lvl) {
		return
	}
	s.log.LogAttrs(ctx, lvl, "http request",
		slog.String("method", method), slog.String("route", route), slog.Int("status", status),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.String("client_ip", c.ClientIP()), slog.String("request_id", id))
}

func routeLabel(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// series caches the children of both vectors by label values, so a
	// request does not hash its labels twice.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	route, method string
	status        int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farewell_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "farewell_http_request_duration_seconds",
			Help:    "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	return m, nil
}

// observe counts one request. Routes are the registered patterns (or
// "unmatched") and methods and statuses are bounded, so the cache is too.
func (m *httpMetrics) observe(route, method string, status int, took time.Duration) {
	k := seriesKey{route, method, status}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, &series{
			requests: m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
			duration: m.duration.WithLabelValues(route, method),
		})
	}
	sr := v.(*series)
	sr.requests.Inc()
	sr.duration.Observe(took.Seconds())
}

// methodLabel keeps the label set bounded: clients can send any method name.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	default:
		return "OTHER"
	}
}
