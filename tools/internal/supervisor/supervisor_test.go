package supervisor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

func newTestSupervisor(t *testing.T, environ []string) (*Supervisor, localstack.Paths) {
	t.Helper()
	p := localstack.NewPaths(t.TempDir())
	s := New(Config{Paths: p, Environ: environ, Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	if err := s.Prepare(); err != nil {
		t.Fatal(err)
	}
	return s, p
}

// A daemon must not inherit the stack lock (nor any other descriptor above 2),
// or it would hold the lock for as long as it runs.
func TestDaemonInheritsNoDescriptor(t *testing.T) {
	s, p := newTestSupervisor(t, os.Environ())
	lock, err := localstack.AcquireLock(context.Background(), p.Lock, time.Second, "test", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Release() }()
	// A descriptor without close-on-exec, as a caller such as flock(1) passes.
	inherited, err := syscall.Open(p.Lock, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(inherited)

	if err := s.startDaemon("sleeper", os.Environ(), "sleep", "30"); err != nil {
		t.Fatal(err)
	}
	pid := p.RecordedPid("sleeper")
	defer func() { _ = syscall.Kill(pid, syscall.SIGKILL) }()
	// Let the dynamic loader of sleep close the libraries it opens at start.
	time.Sleep(300 * time.Millisecond)
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fd := range fds {
		target, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + fd.Name())
		names = append(names, fd.Name()+"->"+target)
	}
	if len(fds) != 3 {
		t.Errorf("daemon has descriptors %v, want only 0 1 2", names)
	}
	if got := localstack.Comm(pid); got != "sleep" {
		t.Errorf("comm %q", got)
	}
	if sid, _ := getsid(pid); sid != pid {
		t.Errorf("daemon session %d, want its own (%d)", sid, pid)
	}
	log, _ := os.ReadFile(p.LogFile("sleeper"))
	if !strings.Contains(string(log), "===== sleeper start") {
		t.Errorf("log has no start marker: %q", log)
	}
}

func getsid(pid int) (int, error) {
	sid, _, errno := syscall.RawSyscall(syscall.SYS_GETSID, uintptr(pid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(sid), nil
}

func TestInstanceEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		instance string
		caller   []string
		want     map[string]string
		absent   []string
	}{
		{
			name: "gateway gets the default heap limit", instance: "apply-gateway-2",
			caller: []string{"PATH=/bin", "FAREWELL_LOG_LEVEL=debug"},
			want: map[string]string{"PATH": "/bin", "GOMEMLIMIT": gatewayMemLimit, "FAREWELL_HTTP_ADDR": "127.0.0.1:8084",
				"FAREWELL_INSTANCE": "apply-gateway-2", "FAREWELL_LOG_LEVEL": "info", "GOMAXPROCS": serviceMaxProcs},
		},
		{
			name: "the caller's GOMAXPROCS wins", instance: "notifier-1",
			caller: []string{"GOMAXPROCS=4"},
			want:   map[string]string{"GOMAXPROCS": "4"},
		},
		{
			name: "the caller's GOMEMLIMIT wins", instance: "apply-gateway-1",
			caller: []string{"GOMEMLIMIT=1GiB"},
			want:   map[string]string{"GOMEMLIMIT": "1GiB"},
		},
		{
			name: "other services have no heap limit", instance: "auth-1",
			want:   map[string]string{"FAREWELL_HTTP_ADDR": "127.0.0.1:8081", "GOMAXPROCS": serviceMaxProcs},
			absent: []string{"GOMEMLIMIT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, p := newTestSupervisor(t, tt.caller)
			if _, err := localstack.EnsureEnvFile(p.EnvFile); err != nil {
				t.Fatal(err)
			}
			c, _ := localstack.Lookup(tt.instance)
			env, err := s.InstanceEnv(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				if _, dup := got[k]; dup {
					t.Errorf("%s set twice", k)
				}
				got[k] = v
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s=%q, want %q", k, got[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s is set", k)
				}
			}
		})
	}
}

func TestRenderNginxNamesAPlaceholderWithoutValue(t *testing.T) {
	t.Parallel()
	s, p := newTestSupervisor(t, nil)
	tmpl := filepath.Join(p.Root, localstack.NginxTemplate)
	if err := os.MkdirAll(filepath.Dir(tmpl), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmpl, []byte("listen ${NGINX_LISTEN};\nadd_header X ${NGINX_CORS_ORIGIN};\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.renderNginx(filepath.Join(p.Run, "out.conf"))
	if err == nil || !strings.Contains(err.Error(), "NGINX_CORS_ORIGIN") {
		t.Errorf("renderNginx = %v, want an error naming NGINX_CORS_ORIGIN", err)
	}
}

func TestSince(t *testing.T) {
	t.Parallel()
	if got := since(time.Now().Add(-1250 * time.Millisecond)); got != "1.2s" {
		t.Errorf("since = %q, want 1.2s", got)
	}
}

func TestBackgroundComponentsStartAtTheBackgroundNice(t *testing.T) {
	for _, c := range []struct {
		name    string
		environ []string
		want    int
	}{
		{"mailpit", nil, localstack.DefaultBackgroundNice},
		{"notifier-2", []string{"FAREWELL_BACKGROUND_NICE=13"}, 13},
		{"notifier-1", []string{"FAREWELL_BACKGROUND_NICE=0"}, 0},
		{"apply-gateway-1", nil, 0},
	} {
		s, p := newTestSupervisor(t, c.environ)
		if err := s.startDaemon(c.name, os.Environ(), "sleep", "30"); err != nil {
			t.Fatal(err)
		}
		pid := p.RecordedPid(c.name)
		if got, err := localstack.ThreadNice(pid, pid); err != nil || got != c.want {
			t.Errorf("%s with %v: nice %d (%v), want %d", c.name, c.environ, got, err, c.want)
		}
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/autogroup"); err == nil &&
			!strings.Contains(string(b), "nice "+strconv.Itoa(c.want)) {
			t.Errorf("%s: session group %q, want nice %d", c.name, strings.TrimSpace(string(b)), c.want)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
