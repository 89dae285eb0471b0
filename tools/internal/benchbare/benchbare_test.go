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
	if os.Getenv(serveEnv) != "" {
		// Serve at the last argument, as StartFleet passes it.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := Serve(ctx, os.Args[len(os.Args)-1]); err != nil {
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
	addr := freeAddr(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartProcess(context.Background(), addr, []string{serveEnv + "=1", "GOMAXPROCS=1"}, exe, "-test.run=^$", addr)
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

// TestFleetServesEveryAddressEitherWay: a fleet answers at each of its
// addresses, in child processes (one PID each) or in this process (none),
// and stops listening after Stop.
func TestFleetServesEveryAddressEitherWay(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, inProcess := range []bool{false, true} {
		addrs := []string{freeAddr(t), freeAddr(t)}
		f, err := StartFleet(context.Background(), addrs, inProcess, []string{serveEnv + "=1"}, exe, "-test.run=^$")
		if err != nil {
			t.Fatalf("in process %v: %v", inProcess, err)
		}
		wantPIDs := len(addrs)
		if inProcess {
			wantPIDs = 0
		}
		if got := f.PIDs(); len(got) != wantPIDs {
			t.Errorf("in process %v: PIDs %v, want %d", inProcess, got, wantPIDs)
		}
		for _, addr := range addrs {
			resp, err := http.Post("http://"+addr+Path, "", nil)
			if err != nil {
				t.Fatalf("in process %v: %s: %v", inProcess, addr, err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("in process %v: %s answered %d", inProcess, addr, resp.StatusCode)
			}
		}
		if err := f.Stop(); err != nil {
			t.Errorf("in process %v: stop: %v", inProcess, err)
		}
		for _, addr := range addrs {
			if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				_ = conn.Close()
				t.Errorf("in process %v: %s still accepts connections after Stop", inProcess, addr)
			}
		}
	}
}

// freeAddr is a loopback address nothing listens on (just now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestStartProcessRefusesAnAddressInUse: a listener already at the address
// would answer for the new process, so starting one there is an error.
func TestStartProcessRefusesAnAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = StartProcess(context.Background(), ln.Addr().String(), nil, "/bin/true")
	if err == nil || !strings.Contains(err.Error(), "listens there already") {
		t.Fatalf("err %v, want the address refused", err)
	}
}
