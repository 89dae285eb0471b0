package localstack

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RecordedPid returns the pid in the component's pid file, or 0.
func (p Paths) RecordedPid(name string) int {
	return readPidFile(p.PidFile(name))
}

// RunningPid returns the recorded pid of c if that process is alive and is
// ours (its kernel command name is c.Comm), else 0.
func (p Paths) RunningPid(c Component) int {
	pid := p.RecordedPid(c.Name)
	if pid == 0 || !Alive(pid) || Comm(pid) != c.Comm {
		return 0
	}
	return pid
}

// WritePid records pid as the component's process.
func (p Paths) WritePid(name string, pid int) error {
	if err := os.MkdirAll(p.Pids, 0o755); err != nil {
		return err
	}
	return os.WriteFile(p.PidFile(name), []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

// RemovePid forgets the component's process.
func (p Paths) RemovePid(name string) {
	_ = os.Remove(p.PidFile(name))
}

func readPidFile(path string) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return 0
	}
	return pid
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	fields := StatFields(pid)
	return len(fields) > 0 && fields[0] != "Z"
}

// Comm returns the kernel's command name of pid, or "".
func Comm(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}

// StatFields returns the fields of /proc/<pid>/stat after the command name
// (state is field 0, ppid 1, utime 11, stime 12), or nil.
func StatFields(pid int) []string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// The command name may contain spaces and parentheses; the fields
	// restart after the last ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// ParentOf returns the parent pid of pid, or 0.
func ParentOf(pid int) int {
	fields := StatFields(pid)
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// Children returns the child processes of pid (any of its threads'), or
// none.
func Children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		raw, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(raw)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
