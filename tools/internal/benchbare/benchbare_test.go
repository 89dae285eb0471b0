package benchbare

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestHandlerAnswersTheAcceptedEnvelope(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+Path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("answer %d %q, want 202 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var env struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
		Result struct {
			Status string `json:"status"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if env.Status != 202 || env.Code != "OK" || env.Result.Status != "PENDING" {
		t.Fatalf("envelope %+v, want 202 OK PENDING", env)
	}
}

// serveEnv makes the test binary a bare handler process (see
// TestStartProcessServesFromItsOwnSession).
const serveEnv = "BENCHBARE_TEST_SERVE"

func TestMain(m *testing.M) {
	if addr := os.Getenv(serveEnv); addr != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := Serve(ctx, addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// TestStartProcessServesFromItsOwnSession: a bare handler process answers
// the envelope, runs in a session of its own (the way the stack starts a
// gateway replica), gets the environment it was given, and is gone after
// Stop.
func TestStartProcessServesFromItsOwnSession(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartProcess(context.Background(), addr, []string{serveEnv + "=" + addr, "GOMAXPROCS=1"}, exe, "-test.run=^$")
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.Stop()
		}
	}()
	resp, err := http.Post("http://"+addr+Path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("answer %d, want 202", resp.StatusCode)
	}
	sid, err := unix.Getsid(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	if sid != p.PID() || sid == syscall.Getpid() {
		t.Errorf("child %d in session %d: want a session of its own", p.PID(), sid)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.PID()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains("\x00"+string(environ), "\x00GOMAXPROCS=1\x00") {
		t.Errorf("child environment lacks GOMAXPROCS=1")
	}
	stopped = true
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = conn.Close()
		t.Fatalf("%s still accepts connections after Stop", addr)
	}
}

// TestStartProcessReportsAChildThatNeverListens: a command that exits
// without serving is an error naming the address, not a hang.
func TestStartProcessReportsAChildThatNeverListens(t *testing.T) {
	t.Parallel()
	_, err := StartProcess(context.Background(), "127.0.0.1:1", nil, "/bin/false")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("err %v, want one naming 127.0.0.1:1", err)
	}
}
