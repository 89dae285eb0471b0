// Package benchbare is the load test's ceiling: an HTTP handler that answers
// POST /bench/bare with apply-gateway's 202 envelope and does no work at all.
// nginx proxies /bench/bare to it exactly like /api/event/apply, so a load run
// against both routes shows how much of the machine the real path leaves on
// the table (docs/benchmarks.md).
package benchbare

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// DefaultAddr is where nginx's bench_bare upstream points
// (deploy/nginx/farewell.conf.template).
const DefaultAddr = "127.0.0.1:8090"

// Path is the route nginx exposes for the bare handler.
const Path = "/bench/bare"

// acceptedBody is byte for byte what apply-gateway answers on a 202.
var acceptedBody = []byte(`{"status":202,"code":"OK","message":"신청이 접수되었습니다. 결과는 이메일로 안내됩니다.","result":{"status":"PENDING"}}`)

// Handler answers every request with the 202 envelope. Apply requests carry
// no body, and net/http drains small ones itself to keep the connection.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json; charset=utf-8"}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(acceptedBody)
	})
}

// Server is a running bare handler.
type Server struct {
	srv  *http.Server
	done chan error
}

// Start listens on addr and serves Handler until Shutdown.
func Start(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bare handler: listen %s: %w", addr, err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           Handler(),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       90 * time.Second,
		},
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends and
// returns the server's error, if any.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("bare handler: shutdown: %w", err)
	}
	return <-s.done
}

// Serve serves Handler at addr until ctx ends, then shuts down within 5 s.
func Serve(ctx context.Context, addr string) error {
	srv, err := Start(addr)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-srv.done:
		return fmt.Errorf("bare handler: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
