package checks

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// TestNginxResendsOnlyTheApplyAfterAReset runs nginx with the production template in front
// of two upstreams per route: one that reads a request and resets the connection without an
// answer (a replica shutting down under a pooled connection), one that answers 202. The
// apply, idempotent per participant, is re-sent to the second and answered; a POST of any
// other route is not re-sent (nginx's default for non-idempotent methods) and is a 502.
func TestNginxResendsOnlyTheApplyAfterAReset(t *testing.T) {
	t.Parallel()
	nginx := requireTool(t, "nginx")
	scratch := t.TempDir()

	var resets, answers atomic.Int64
	resetAddr := serveResets(t, &resets)
	okAddr := serveAccepted(t, &answers)
	listen := freeLoopbackAddr(t)
	// max_fails=0: nginx never sets the resetting server aside, so round robin keeps
	// handing it every other request.
	servers := fmt.Sprintf("server %s max_fails=0; server %s max_fails=0;", resetAddr, okAddr)
	values := productionValues(scratch)
	for k, v := range map[string]string{
		"NGINX_LISTEN": listen, "NGINX_AUTH_SERVERS": servers, "NGINX_GATEWAY_SERVERS": servers,
		"NGINX_AUTH_RATE": "10000r/s", "NGINX_AUTH_BURST": "10000",
		"NGINX_APPLY_RATE": "10000r/s", "NGINX_APPLY_BURST": "10000",
		"NGINX_API_RATE": "10000r/s", "NGINX_API_BURST": "10000",
		"NGINX_REAL_IP_FROM": "set_real_ip_from 127.0.0.1;",
	} {
		values[k] = v
	}
	conf, err := RenderNginxTemplate(readTemplate(t), values)
	if err != nil {
		t.Fatal(err)
	}
	runNginx(t, nginx, conf, scratch, listen)

	post := func(path string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+listen+path, strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}

	const n = 8
	for i := 0; i < n; i++ {
		if code := post("/api/event/apply"); code != http.StatusAccepted {
			t.Fatalf("apply %d answered %d, want 202 from the replica that answers", i, code)
		}
	}
	if resets.Load() == 0 {
		t.Fatal("no apply reached the resetting upstream: the test proved nothing")
	}
	applyResets := resets.Load()

	var badGateway int
	for i := 0; i < n; i++ {
		switch code := post("/api/auth/email/code"); code {
		case http.StatusBadGateway:
			badGateway++
		case http.StatusAccepted:
		default:
			t.Fatalf("auth POST %d answered %d, want 202 or 502", i, code)
		}
	}
	if resets.Load() == applyResets {
		t.Fatal("no auth POST reached the resetting upstream")
	}
	if badGateway == 0 {
		t.Fatal("nginx re-sent auth POSTs after a reset too: only the apply is idempotent")
	}
	t.Logf("%d applies: all 202 (%d reset and re-sent); %d auth POSTs: %d answered 502",
		n, applyResets, n, badGateway)
}

// serveResets accepts connections, reads one request's headers and body, and resets the
// connection without an answer. It counts the requests it read.
func serveResets(t *testing.T, count *atomic.Int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(conn))
			if err == nil {
				_, _ = req.Body.Read(make([]byte, 64))
				count.Add(1)
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST, not FIN
			}
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// serveAccepted answers every request 202 with a JSON envelope and counts them.
func serveAccepted(t *testing.T, count *atomic.Int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		count.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":202,"code":"ACCEPTED","message":"ok"}`))
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// freeLoopbackAddr returns a loopback address nothing listens on right now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// runNginx starts nginx in the foreground with conf until the test ends and waits until it
// accepts connections on listen.
func runNginx(t *testing.T, nginx, conf, scratch, listen string) {
	t.Helper()
	path := filepath.Join(scratch, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	errLog := filepath.Join(scratch, "error.log")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, nginx, "-p", scratch, "-c", path, "-e", errLog, "-g", "daemon off;")
	// SIGTERM, not the default SIGKILL: a killed master leaves its workers
	// running (and listening) as orphans.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		workers := localstack.Children(cmd.Process.Pid)
		cancel()
		<-exited
		for _, pid := range workers {
			if err := syscall.Kill(pid, 0); err == nil {
				t.Errorf("nginx worker %d outlived its master", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			return
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(errLog)
			t.Fatalf("nginx exited: %v; its error log:\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s within 10 s", listen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
