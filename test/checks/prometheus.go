package checks

import (
	"fmt"
	"os/exec"
)

// Promtool runs promtool with args in dir and returns its output when it reports a problem.
func Promtool(promtool, dir string, args ...string) error {
	cmd := exec.Command(promtool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("promtool %v: %w\n%s", args, err, out)
	}
	return nil
}
