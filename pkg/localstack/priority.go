package localstack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// DefaultBackgroundNice is the nice value the stack gives its background
// components (Component.Background) unless FAREWELL_BACKGROUND_NICE says
// otherwise.
const DefaultBackgroundNice = 10

// ParseBackgroundNice reads FAREWELL_BACKGROUND_NICE: empty means
// DefaultBackgroundNice, 0 leaves the background at the others' priority,
// 1–19 is the nice value.
func ParseBackgroundNice(v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return DefaultBackgroundNice, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 19 {
		return 0, fmt.Errorf("FAREWELL_BACKGROUND_NICE=%q: want a nice value from 0 (off) to 19", v)
	}
	return n, nil
}

// LowerPriority gives process pid the CPU priority of nice. The stack's
// daemons each run in a session of their own, and where the kernel groups
// the scheduling by session (autogroup, the default) a thread's nice only
// weighs against the threads of its own session: so the session's group
// gets the nice value (/proc/<pid>/autogroup), and so does every thread the
// process has by now, for kernels without autogroup (threads it starts
// later inherit the nice of the thread that starts them).
func LowerPriority(pid, nice int) error {
	var errs []error
	err := os.WriteFile(fmt.Sprintf("/proc/%d/autogroup", pid), []byte(strconv.Itoa(nice)), 0)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("autogroup of pid %d: %w", pid, err))
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("threads of pid %d: %w", pid, err))...)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// A thread that ended meanwhile is not an error.
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("thread %d of pid %d: %w", tid, pid, err))
		}
	}
	return errors.Join(errs...)
}

// ThreadNice is the nice value of thread tid of process pid (field 19 of
// /proc/<pid>/task/<tid>/stat; tid pid is the main thread): what
// LowerPriority set.
func ThreadNice(pid, tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// The command, in parentheses, may hold spaces: count after it.
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 17 {
		return 0, fmt.Errorf("stat of thread %d of pid %d: %d fields after the command", tid, pid, len(fields))
	}
	return strconv.Atoi(fields[16])
}
