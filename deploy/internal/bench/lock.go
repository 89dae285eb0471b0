package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StackLock is the exclusive flock(2) every load run against the shared local
// stack holds, so that load runs, test suites and chaos runs do not overlap.
type StackLock struct {
	f *os.File
	// Inherited is true when an ancestor process (`flock <file> make bench`)
	// already holds the lock for this run.
	Inherited bool
}

// AcquireStackLock takes the lock on path, waiting until ctx ends. When the
// lock is held by one of this process's ancestors — the run was wrapped in
// flock(1) — it proceeds under that lock instead of waiting for itself.
func AcquireStackLock(ctx context.Context, path string, log io.Writer) (*StackLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("stack lock: %w", err)
	}
	announced := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &StackLock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("stack lock %s: %w", path, err)
		}
		if heldByAncestor(f) {
			return &StackLock{f: f, Inherited: true}, nil
		}
		if !announced {
			fmt.Fprintf(log, "waiting for the stack lock %s (another load or test run holds it)...\n", path)
			announced = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("stack lock %s: %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Release unlocks (closing the file releases a flock).
func (l *StackLock) Release() error { return l.f.Close() }

// heldByAncestor reports whether /proc/locks names one of our ancestors as the
// holder of an flock on f's inode.
func heldByAncestor(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	holders := flockHolders(st.Ino)
	if len(holders) == 0 {
		return false
	}
	for pid := os.Getppid(); pid > 1; pid = parentOf(pid) {
		if holders[pid] {
			return true
		}
	}
	return false
}

// flockHolders reads /proc/locks lines such as
// "3: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF" for the given inode.
func flockHolders(inode uint64) map[int]bool {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[int]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Blocked waiters have an extra "->" field after the index.
		if len(fields) > 1 && fields[1] == "->" {
			continue
		}
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		dev := strings.Split(fields[5], ":")
		if len(dev) != 3 || dev[2] != strconv.FormatUint(inode, 10) {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil {
			out[pid] = true
		}
	}
	return out
}

// parentOf returns the parent pid from /proc/<pid>/stat, or 0.
func parentOf(pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may contain spaces; fields restart after the last ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}
