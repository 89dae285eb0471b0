package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// stopGrace is how long a component gets between SIGTERM and SIGKILL.
const stopGrace = 15 * time.Second

// ensureComponent leaves a live, ready component alone, refuses a port held
// by a stranger, otherwise starts it with start and waits until it is ready.
func (s *Supervisor) ensureComponent(ctx context.Context, c localstack.Component, detail string, start func(context.Context) error) error {
	t0 := time.Now()
	if pid := s.p.RunningPid(c); pid != 0 {
		if err := s.waitReady(ctx, c); err != nil {
			return err
		}
		fmt.Fprintf(s.cfg.Out, "  %-20s already running   pid %-7d %s\n", c.Name, pid, detail)
		return nil
	}
	s.p.RemovePid(c.Name)
	if err := refuseBusyPort(c.Name, c.Port); err != nil {
		return err
	}
	if err := start(ctx); err != nil {
		return err
	}
	if err := s.waitReady(ctx, c); err != nil {
		return err
	}
	s.readyLine(c.Name, t0, fmt.Sprintf("pid %d  %s%s", s.p.RecordedPid(c.Name), detail, s.niceNote(c.Name)))
	return nil
}

// startDaemon runs argv in its own session (immune to the caller's Ctrl-C
// and hang-up) with output appended to the component's log and stdin from
// /dev/null, and records its pid. Only descriptors 0-2 reach it: not our
// stack lock, nor anything the caller left open (`flock .run/stack.lock
// make restart` would otherwise leave that lock held by the daemons for as
// long as they run).
func (s *Supervisor) startDaemon(name string, env []string, argv ...string) error {
	markInheritedCloseOnExec()
	logPath := s.p.LogFile(name)
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devNull.Close()
	fmt.Fprintf(log, "\n===== %s start %s =====\n", name, time.Now().Format(time.RFC3339))
	cmd := exec.Command(lookPath(argv[0]), argv[1:]...)
	cmd.Env = env
	cmd.Dir = s.p.Root
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	s.LowerPriority(name, pid)
	// The daemon outlives us; it is found again by its pid file.
	_ = cmd.Process.Release()
	return s.p.WritePid(name, pid)
}

// LowerPriority runs a background component (localstack.Component.Background:
// the notifiers and Mailpit) at FAREWELL_BACKGROUND_NICE (10 unless set; 0
// keeps it at the others' priority), so that on a small machine a herd's
// e-mails take the CPU the answers leave. It is called right after the
// start and again once the component is ready, for the threads started
// in between.
func (s *Supervisor) LowerPriority(name string, pid int) {
	nice, err := s.backgroundNice(name)
	if err != nil {
		s.warnf("%s: %v; keeping its priority", name, err)
		return
	}
	if nice == 0 {
		return
	}
	if err := localstack.LowerPriority(pid, nice); err != nil {
		s.warnf("%s: could not lower its CPU priority: %v", name, err)
	}
}

// backgroundNice is the nice value component name runs at: 0 unless it is
// a background component and FAREWELL_BACKGROUND_NICE is not 0.
func (s *Supervisor) backgroundNice(name string) (int, error) {
	if c, ok := localstack.Lookup(name); !ok || !c.Background {
		return 0, nil
	}
	v, _ := s.callerEnv("FAREWELL_BACKGROUND_NICE")
	return localstack.ParseBackgroundNice(v)
}

// niceNote is what a ready line says of a background component's priority.
func (s *Supervisor) niceNote(name string) string {
	if n, err := s.backgroundNice(name); err == nil && n > 0 {
		return fmt.Sprintf("  (nice %d: background)", n)
	}
	return ""
}

// markInheritedCloseOnExec sets close-on-exec on every descriptor above 2.
// Go opens its own files that way; this covers descriptors inherited from
// the caller.
func markInheritedCloseOnExec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// waitReady polls the component's readiness until it succeeds, its process
// dies or the ready timeout passes; both failures print the end of its log.
func (s *Supervisor) waitReady(ctx context.Context, c localstack.Component) error {
	deadline := time.Now().Add(s.cfg.ReadyTimeout)
	log := s.p.LogFile(c.Name)
	for {
		if localstack.Ready(ctx, c) == nil {
			if pid := s.p.RunningPid(c); pid != 0 {
				s.LowerPriority(c.Name, pid)
			}
			return nil
		}
		if s.p.RunningPid(c) == 0 {
			return s.errWithLog(log, fmt.Errorf("%s exited during start-up (see %s)", c.Name, log))
		}
		if time.Now().After(deadline) {
			return s.errWithLog(log, fmt.Errorf("%s not ready after %s (raise FAREWELL_READY_TIMEOUT or see %s)", c.Name, s.cfg.ReadyTimeout, log))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopComponent sends SIGTERM to the recorded pid, SIGKILL after
// stopGrace, and forgets it.
func (s *Supervisor) stopComponent(c localstack.Component) {
	pid := s.p.RunningPid(c)
	if pid == 0 {
		if _, err := os.Stat(s.p.PidFile(c.Name)); err == nil {
			fmt.Fprintf(s.cfg.Out, "  %-20s not running (stale pid file removed)\n", c.Name)
			s.p.RemovePid(c.Name)
		}
		return
	}
	start := time.Now()
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if !s.waitGone(c, stopGrace) {
		s.warnf("%s (pid %d) ignored SIGTERM for %s: sending SIGKILL", c.Name, pid, stopGrace)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		s.waitGone(c, 2*time.Second)
	}
	s.p.RemovePid(c.Name)
	fmt.Fprintf(s.cfg.Out, "  %-20s stopped in %6s  (pid %d)\n", c.Name, since(start), pid)
}

func (s *Supervisor) waitGone(c localstack.Component, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if s.p.RunningPid(c) == 0 {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s.p.RunningPid(c) == 0
}

func (s *Supervisor) stopServices() {
	instances := localstack.Instances()
	for i := len(instances) - 1; i >= 0; i-- {
		s.stopComponent(instances[i])
	}
}

// refuseBusyPort fails when something we did not start listens on port.
func refuseBusyPort(name string, port int) error {
	if !localstack.PortOpen(port) {
		return nil
	}
	hint := "stop that process"
	switch name {
	case "redis":
		hint = "stop it (the Debian service: 'service redis-server stop' or 'systemctl disable --now redis-server')"
	case "mariadb":
		hint = "stop it (the Debian service: 'service mariadb stop' or 'systemctl disable --now mariadb')"
	case "nginx":
		hint = "stop it (the Debian service: 'service nginx stop' or 'systemctl disable --now nginx')"
	}
	return fmt.Errorf("%s: port %d is already in use by %s, which `make run` did not start.\n      %s, then run again", name, port, portHolder(port), hint)
}

var ssUsers = regexp.MustCompile(`users:\(\([^)]*\)\)`)

// portHolder names who listens on port (from ss), for error messages.
func portHolder(port int) string {
	out, err := exec.Command(lookPath("ss"), "-H", "-ltnp", fmt.Sprintf("sport = :%d", port)).Output()
	if err == nil {
		if m := ssUsers.Find(out); m != nil {
			return string(m)
		}
	}
	return "an unknown process"
}

// sbinDirs hold mariadbd, nginx and mariadb-install-db, which a non-login
// PATH may lack.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// lookPath finds a program on PATH, then in sbinDirs; it returns name
// unchanged when neither has it (the start then fails naming it).
func lookPath(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return name
}

// runLogged runs a helper command with its output appended to log.
func (s *Supervisor) runLogged(ctx context.Context, log, dir string, env []string, argv ...string) error {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, lookPath(argv[0]), argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return nil
}

// environ returns the caller's environment with overrides applied (sorted
// by key, so the result does not depend on map order).
func (s *Supervisor) environ(overrides map[string]string) []string {
	out := make([]string, 0, len(s.cfg.Environ)+len(overrides))
	for _, kv := range s.cfg.Environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := overrides[k]; !ok {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+overrides[k])
	}
	return out
}

// callerEnv returns the caller's value of key.
func (s *Supervisor) callerEnv(key string) (string, bool) {
	for _, kv := range s.cfg.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func component(name string) localstack.Component {
	c, ok := localstack.Lookup(name)
	if !ok {
		panic("supervisor: unknown component " + name) // programming error: names are constants
	}
	return c
}
