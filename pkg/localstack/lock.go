package localstack

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

// Lock is the exclusive flock(2) on .run/stack.lock. The supervisor holds it
// while it starts or stops components; load runs, chaos runs and the
// end-to-end tests hold it for their whole run, so none of them overlaps
// another or a restart of the stack.
type Lock struct {
	f *os.File
	// Inherited is true when an ancestor process already held the lock (the
	// run was wrapped in `flock .run/stack.lock …`, or the supervisor was
	// started by a tool that holds it): the run proceeds under that lock.
	Inherited bool
}

// AcquireLock takes the lock on path for who (a short description such as
// "stack up" written into the file for whoever waits next). It waits until
// the lock is free, ctx ends or wait passes (no limit when wait <= 0),
// telling log once that it waits and who holds the lock.
func AcquireLock(ctx context.Context, path string, wait time.Duration, who string, log io.Writer) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("stack lock: %w", err)
	}
	// Go opens with O_CLOEXEC: no process started while we hold the lock
	// inherits it.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("stack lock: %w", err)
	}
	var deadline <-chan time.Time
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		deadline = timer.C
	}
	announced := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			_ = f.Truncate(0)
			_, _ = fmt.Fprintf(f, "%s (pid %d) since %s\n", who, os.Getpid(), time.Now().Format(time.RFC3339))
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("stack lock %s: %w", path, err)
		}
		if heldByAncestor(f) {
			return &Lock{f: f, Inherited: true}, nil
		}
		if !announced {
			fmt.Fprintf(log, "waiting for the stack lock %s, held by %s ...\n", path, holderOf(f))
			announced = true
		}
		select {
		case <-ctx.Done():
			holder := holderOf(f)
			_ = f.Close()
			return nil, fmt.Errorf("stack lock %s (held by %s): %w", path, holder, ctx.Err())
		case <-deadline:
			holder := holderOf(f)
			_ = f.Close()
			return nil, fmt.Errorf("stack lock %s still held after %s by %s", path, wait, holder)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Release unlocks. An inherited lock stays with its holder.
func (l *Lock) Release() error {
	if !l.Inherited {
		_ = l.f.Truncate(0)
	}
	// Closing our descriptor releases our flock.
	return l.f.Close()
}

// holderOf names the processes /proc/locks says hold the lock on f, with
// the note the holder wrote into the file.
func holderOf(f *os.File) string {
	var parts []string
	if ino, ok := inode(f); ok {
		for pid := range flockHolders(ino) {
			parts = append(parts, fmt.Sprintf("pid %d (%s)", pid, cmdline(pid)))
		}
	}
	if raw, err := os.ReadFile(f.Name()); err == nil {
		if note := strings.TrimSpace(string(raw)); note != "" {
			parts = append(parts, "note: "+note)
		}
	}
	if len(parts) == 0 {
		return "an unknown process"
	}
	return strings.Join(parts, "; ")
}

func cmdline(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(raw) == 0 {
		return Comm(pid)
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}

func inode(f *os.File) (uint64, bool) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Ino, true
}

// heldByAncestor reports whether one of our ancestors holds the flock on f's
// inode. Holders are found two ways: the pid /proc/locks names (the process
// that took the lock, e.g. flock(1) running us), and every ancestor with a
// descriptor on the inode whose /proc/<pid>/fdinfo lists a lock (a shell
// that ran `flock -n 8` keeps the lock on its fd 8 after flock(1) exits).
func heldByAncestor(f *os.File) bool {
	ino, ok := inode(f)
	if !ok {
		return false
	}
	holders := flockHolders(ino)
	if len(holders) == 0 {
		return false
	}
	for pid := os.Getppid(); pid > 1; pid = ParentOf(pid) {
		if holders[pid] || fdHoldsLock(pid, ino) {
			return true
		}
	}
	return false
}

// fdHoldsLock reports whether a descriptor of pid refers to inode and
// carries a lock (its fdinfo has a "lock:" line).
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
	ino := strconv.FormatUint(inode, 10)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Blocked waiters have an extra "->" field after the index.
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		dev := strings.Split(fields[5], ":")
		if len(dev) != 3 || dev[2] != ino {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil {
			out[pid] = true
		}
	}
	return out
}
