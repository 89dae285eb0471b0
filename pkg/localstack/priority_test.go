package localstack

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseBackgroundNice(t *testing.T) {
	for v, want := range map[string]int{"": DefaultBackgroundNice, " 7 ": 7, "0": 0, "19": 19} {
		if got, err := ParseBackgroundNice(v); err != nil || got != want {
			t.Errorf("ParseBackgroundNice(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"-1", "20", "ten", "1.5"} {
		if _, err := ParseBackgroundNice(v); err == nil {
			t.Errorf("ParseBackgroundNice(%q) accepted", v)
		}
	}
}

func TestOnlyTheEmailPathIsBackground(t *testing.T) {
	for _, c := range Components() {
		want := c.Name == "mailpit" || c.Service == "notifier"
		if c.Background != want {
			t.Errorf("%s: Background = %v, want %v", c.Name, c.Background, want)
		}
	}
}

func TestLowerPriorityReachesEveryThreadAndTheSessionGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc here")
	}
	cmd := exec.Command("sleep", "30")
	// A session (and so a scheduling group) of its own, as the stack's
	// daemons have: the group's nice must not touch this test's session.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep(1):", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	time.Sleep(50 * time.Millisecond)
	if err := LowerPriority(pid, 7); err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if n, err := ThreadNice(pid, tid); err != nil || n != 7 {
			t.Errorf("thread %d: nice %d (%v), want 7", tid, n, err)
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", pid)); err == nil && !strings.Contains(string(b), "nice 7") {
		t.Errorf("session group: %q, want nice 7", strings.TrimSpace(string(b)))
	}
}
