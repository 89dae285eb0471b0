package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// heldByAncestor reports whether one of our ancestors holds the flock on f's
// inode. Holders are found two ways: the pid /proc/locks names (the process
// that took the lock, e.g. flock(1) running us), and every process with a
// descriptor on the inode whose /proc/<pid>/fdinfo lists the lock (a shell
// that ran `flock -n 8` keeps the lock on its fd 8 after flock(1) exits).
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
		if holders[pid] || fdHoldsLock(pid, st.Ino) {
			return true
		}
	}
	return false
}

// fdHoldsLock reports whether a descriptor of pid refers to inode and carries
// a lock (fdinfo has a "lock:" line).
func fdHoldsLock(pid int, inode uint64) bool {
	infos, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fdinfo/*", pid))
	ino := strconv.FormatUint(inode, 10)
	for _, path := range infos {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(raw)
		if strings.Contains(s, "\nino:\t"+ino+"\n") && strings.Contains(s, "\nlock:") {
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
	fields := statFields(pid)
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// statFields returns the fields of /proc/<pid>/stat after the command name
// (state is field 0, ppid 1, utime 11, stime 12), or nil.
func statFields(pid int) []string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// The command name may contain spaces; fields restart after the last ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}
