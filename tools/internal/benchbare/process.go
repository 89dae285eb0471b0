package benchbare

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

// Process is a bare handler served by a child process of its own: the
// ceiling served the way a gateway replica is, in its own process, session
// (so its own scheduling group) and Go scheduler.
type Process struct {
	Addr string
	cmd  *exec.Cmd
	done chan error
}

// readyWait bounds how long a new process may take to accept connections.
const readyWait = 10 * time.Second

// StartProcess runs name with args, a command that serves Handler at addr
// (the bench runs itself with -serve-bare), with env added to this
// process's environment, and returns once addr accepts connections. The
// child is killed if this process dies first.
func StartProcess(ctx context.Context, addr string, env []string, name string, args ...string) (*Process, error) {
	// Something already listening there would pass for the new process.
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = conn.Close()
		return nil, fmt.Errorf("bare handler %s: something else listens there already (an earlier run's handler? `ss -ltnp`)", addr)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bare handler %s: start: %w", addr, err)
	}
	p := &Process{Addr: addr, cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(readyWait)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return p, nil
		}
		select {
		case werr := <-p.done:
			p.done <- werr
			return nil, fmt.Errorf("bare handler %s: exited before it listened: %v", addr, werr)
		case <-ctx.Done():
			_ = p.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.Stop()
			return nil, fmt.Errorf("bare handler %s: not listening after %s: %w", addr, readyWait, err)
		}
	}
}

// PID is the child's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stop asks the child to finish (SIGTERM), kills it after 5 s, and returns
// once it has exited.
func (p *Process) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled() {
			return nil
		}
		return err
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		return fmt.Errorf("bare handler %s: killed after 5 s", p.Addr)
	}
}

// Fleet is the bare handlers of one load run, one per address.
type Fleet struct {
	servers []*Server  // in this process
	procs   []*Process // or one child process each
}

// StartFleet serves Handler at every address: inside this process when
// inProcess, else in one child process each (StartProcess with env, running
// name with args followed by the address).
func StartFleet(ctx context.Context, addrs []string, inProcess bool, env []string, name string, args ...string) (*Fleet, error) {
	f := &Fleet{}
	for _, addr := range addrs {
		if inProcess {
			s, err := Start(addr)
			if err != nil {
				f.Stop()
				return nil, err
			}
			f.servers = append(f.servers, s)
			continue
		}
		p, err := StartProcess(ctx, addr, env, name, append(slices.Clip(args), addr)...)
		if err != nil {
			f.Stop()
			return nil, err
		}
		f.procs = append(f.procs, p)
	}
	return f, nil
}

// PIDs are the child processes' ids, in the order of the addresses (none
// in process).
func (f *Fleet) PIDs() []int {
	out := make([]int, 0, len(f.procs))
	for _, p := range f.procs {
		out = append(out, p.PID())
	}
	return out
}

// Stop ends every handler and returns the first error.
func (f *Fleet) Stop() error {
	var first error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range f.servers {
		if err := s.Shutdown(ctx); err != nil && first == nil {
			first = err
		}
	}
	for _, p := range f.procs {
		if err := p.Stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
