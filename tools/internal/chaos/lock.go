package chaos

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockFile is the file, relative to the repository root, whose exclusive
// flock a chaos run holds. Anything else that drives load at the stack or
// depends on it staying up (bench, demo, end-to-end tests) can take a shared
// lock (LOCK_SH) on the same file to never overlap with a chaos run.
const LockFile = ".run/stack.lock"

// AcquireLock takes an exclusive flock on root/.run/stack.lock, waiting up to
// wait (polling, so ctx cancels the wait). The returned function releases it.
func AcquireLock(ctx context.Context, root string, wait time.Duration, log io.Writer) (func(), error) {
	path := filepath.Join(root, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	announced := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK {
			_ = f.Close()
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		if !announced {
			fmt.Fprintf(log, "waiting for the exclusive stack lock %s (another chaos run, bench or test holds it)...\n", path)
			announced = true
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("stack lock %s still held by someone else after %s", path, wait)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "chaos pid %d since %s\n", os.Getpid(), time.Now().Format(time.RFC3339))
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
