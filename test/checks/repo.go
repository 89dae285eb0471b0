package checks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// RepoRoot returns the repository root: the nearest directory at or above the working
// directory that holds go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repo root: no go.work at or above the working directory")
		}
		dir = parent
	}
}
