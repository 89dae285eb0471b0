package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// Status prints one line per component: name, pid, port, state.
func (s *Supervisor) Status(ctx context.Context) error {
	fmt.Fprintf(s.cfg.Out, "topology %s\n", s.topo.Name)
	fmt.Fprintf(s.cfg.Out, "%-18s %-8s %-6s %s\n", "COMPONENT", "PID", "PORT", "STATE")
	for _, c := range s.topo.Components() {
		pid, state := "-", "down"
		if p := s.p.RunningPid(c); p != 0 {
			pid, state = fmt.Sprint(p), "up"
			if localstack.Ready(ctx, c) != nil {
				state = "starting/unhealthy"
			}
		} else if s.p.RecordedPid(c.Name) != 0 {
			state = "down (stale pid file)"
		}
		fmt.Fprintf(s.cfg.Out, "%-18s %-8s %-6d %s\n", c.Name, pid, c.Port, state)
	}
	return nil
}

// Logs prints the last 50 lines of every log, or, with a name, follows the
// logs of that component (name.log and name-N.log, so "auth" follows every
// auth instance) until interrupted.
func (s *Supervisor) Logs(name string) error {
	all, _ := filepath.Glob(filepath.Join(s.p.Logs, "*.log"))
	sort.Strings(all)
	if name == "" {
		if len(all) == 0 {
			return fmt.Errorf("no logs yet in %s: run 'make run' first", s.p.Logs)
		}
		for _, f := range all {
			fmt.Fprintf(s.cfg.Out, "\n==> %s <==\n", f)
			for _, line := range lastLines(f, 50) {
				fmt.Fprintln(s.cfg.Out, line)
			}
		}
		return nil
	}
	var files []string
	for _, f := range all {
		base := strings.TrimSuffix(filepath.Base(f), ".log")
		if base == name || localstack.ServiceOf(base) == name {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		names := make([]string, 0, len(all))
		for _, f := range all {
			names = append(names, strings.TrimSuffix(filepath.Base(f), ".log"))
		}
		list := strings.Join(names, " ")
		if list == "" {
			list = "none yet"
		}
		return fmt.Errorf("no log named '%s' in %s (try one of: %s)", name, s.p.Logs, list)
	}
	tail, err := exec.LookPath("tail")
	if err != nil {
		return err
	}
	// tail -F replaces us: Ctrl-C ends it the way it ends any tail.
	return syscall.Exec(tail, append([]string{"tail", "-n", "50", "-F"}, files...), os.Environ())
}
