package localstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Files of the local stack, relative to the repository root.
const (
	RunDir   = ".run"
	EnvFile  = ".run/farewell.env"
	LockFile = ".run/stack.lock"
)

// Paths are the stack's directories and files under one repository root.
type Paths struct {
	Root    string // repository root
	Run     string // .run: everything the stack writes
	Logs    string // .run/logs/<name>.log
	Pids    string // .run/pids/<name>.pid
	Bin     string // .run/bin: service binaries, mailpit, the stack tool
	EnvFile string // .run/farewell.env
	Lock    string // .run/stack.lock
}

// NewPaths returns the paths under root.
func NewPaths(root string) Paths {
	run := filepath.Join(root, RunDir)
	return Paths{
		Root:    root,
		Run:     run,
		Logs:    filepath.Join(run, "logs"),
		Pids:    filepath.Join(run, "pids"),
		Bin:     filepath.Join(run, "bin"),
		EnvFile: filepath.Join(root, EnvFile),
		Lock:    filepath.Join(root, LockFile),
	}
}

// PidFile is where the pid of the component called name is recorded.
func (p Paths) PidFile(name string) string { return filepath.Join(p.Pids, name+".pid") }

// LogFile is where the output of the component (or step) called name goes.
func (p Paths) LogFile(name string) string { return filepath.Join(p.Logs, name+".log") }

// ErrNoRoot is returned when no repository root is found.
var ErrNoRoot = errors.New("no Farewell repository root (a directory with go.work and pkg/localstack) above the working directory")

// FindRoot returns the nearest directory at or above dir that is the
// repository root (it holds go.work and pkg/localstack).
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.work")) && isDir(filepath.Join(dir, "pkg", "localstack")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoRoot
		}
		dir = parent
	}
}

// FindEnvFile returns path if it is set, else the .run/farewell.env of the
// nearest directory at or above the working directory that has one.
func FindEnvFile(path string) (string, error) {
	if path != "" {
		return filepath.Abs(path)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, EnvFile)
		if isFile(p) {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found: start the stack with `make run`", EnvFile)
		}
		dir = parent
	}
}

// PathsOfEnvFile returns the paths of the stack whose environment file is envFile.
func PathsOfEnvFile(envFile string) Paths {
	return NewPaths(filepath.Dir(filepath.Dir(envFile)))
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
