package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// gatewayMemLimit is the apply-gateway's soft memory limit unless the caller
// sets GOMEMLIMIT: it keeps the connection-heavy gateway inside its 64 MiB
// budget during a herd (the GC runs earlier). At 1,000 connections the
// gateway holds about 20 MiB of goroutine stacks and 22 MiB of heap, so a
// lower limit makes the collector run back to back (docs/benchmarks.md).
const gatewayMemLimit = "48MiB"

// serviceMaxProcs is every service instance's GOMAXPROCS unless the caller
// sets one: what the service gets in its container, where Go sets GOMAXPROCS
// from the CPU limit, 1 for every service in k8s/base. With the machine's
// core count instead, each of the eight instances would run as many
// schedulers as there are cores beside nginx, Kafka and the rest, and pay
// for spinning and waking them (docs/benchmarks.md "One scheduler per
// service").
const serviceMaxProcs = "1"

// buildServices builds every service into .run/bin in one `go build` (the
// packages the services share compile once, the links run in parallel),
// with the container image's settings (pkg/localstack.BuildFlags), and
// returns the built ones.
func (s *Supervisor) buildServices(ctx context.Context) ([]string, error) {
	var svcs, pkgs []string
	for _, svc := range localstack.Services() {
		if files, _ := filepath.Glob(filepath.Join(s.p.Root, "services", svc, "cmd", svc, "*.go")); len(files) == 0 {
			s.warnf("services/%s/cmd/%s has no Go files: skipping %s", svc, svc, svc)
			continue
		}
		svcs = append(svcs, svc)
		pkgs = append(pkgs, localstack.ServicePackage(svc))
	}
	if len(svcs) == 0 {
		return nil, nil
	}
	start := time.Now()
	log := s.p.LogFile("build")
	// Build next to the binaries and rename, so a running instance keeps its file.
	tmp := filepath.Join(s.p.Bin, ".new")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	argv := append(append([]string{"go", "build"}, localstack.BuildFlags()...), "-o", tmp+string(filepath.Separator))
	if err := s.runLogged(ctx, log, s.p.Root, s.environ(localstack.BuildEnv()), append(argv, pkgs...)...); err != nil {
		if ctx.Err() != nil { // another step failed first: say nothing of this one
			return nil, ctx.Err()
		}
		return nil, s.errWithLog(log, fmt.Errorf("go build %s failed (see %s)", strings.Join(pkgs, " "), log))
	}
	for _, svc := range svcs {
		if err := os.Rename(filepath.Join(tmp, svc), filepath.Join(s.p.Bin, svc)); err != nil {
			return nil, err
		}
	}
	s.readyLine("build services", start, fmt.Sprintf("%s -> %s", strings.Join(svcs, ", "), s.p.Bin))
	return svcs, nil
}

// InstanceEnv is the environment of a service instance: the caller's, the
// environment file's, its address and instance name, plus extra.
func (s *Supervisor) InstanceEnv(c localstack.Component, extra map[string]string) ([]string, error) {
	fileEnv, err := localstack.LoadEnv(s.p.EnvFile)
	if err != nil {
		return nil, err
	}
	overrides := map[string]string{}
	for k, v := range fileEnv {
		overrides[k] = v
	}
	overrides["FAREWELL_HTTP_ADDR"] = c.Addr()
	overrides["FAREWELL_INSTANCE"] = c.Name
	if _, set := s.callerEnv("GOMEMLIMIT"); c.Service == "apply-gateway" && !set {
		overrides["GOMEMLIMIT"] = gatewayMemLimit
	}
	if _, set := s.callerEnv("GOMAXPROCS"); !set {
		overrides["GOMAXPROCS"] = serviceMaxProcs
	}
	for k, v := range extra {
		overrides[k] = v
	}
	return s.environ(overrides), nil
}

// StartInstance starts one service instance from .run/bin with extra
// environment, without waiting for readiness.
func (s *Supervisor) StartInstance(c localstack.Component, extra map[string]string) error {
	env, err := s.InstanceEnv(c, extra)
	if err != nil {
		return err
	}
	return s.startDaemon(c.Name, env, filepath.Join(s.p.Bin, c.Service))
}

func (s *Supervisor) servicesUp(ctx context.Context, bg *background) error {
	s.infof("services:")
	if _, err := os.Stat(s.p.EnvFile); err != nil {
		return fmt.Errorf("%s is missing: run 'make infra' (or 'make run') first", s.p.EnvFile)
	}
	primary, _ := s.topo.Lookup(s.topo.Redis[0].Name)
	if localstack.Ready(ctx, primary) != nil || !localstack.PortOpen(localstack.MariaDBPort) || !localstack.PortOpen(s.topo.Kafka[0].Port) {
		return ErrInfraDown
	}
	built, err := wait(ctx, &bg.build, s.buildServices)
	if err != nil {
		return err
	}
	for _, c := range localstack.Instances() {
		if !contains(built, c.Service) {
			continue
		}
		start := time.Now()
		if pid := s.p.RunningPid(c); pid != 0 {
			if err := s.waitReady(ctx, c); err != nil {
				return err
			}
			fmt.Fprintf(s.cfg.Out, "  %-20s already running   pid %-7d :%d (new build? make restart)\n", c.Name, pid, c.Port)
			continue
		}
		s.p.RemovePid(c.Name)
		if err := refuseBusyPort(c.Name, c.Port); err != nil {
			return err
		}
		if err := s.StartInstance(c, nil); err != nil {
			return err
		}
		if err := s.waitReady(ctx, c); err != nil {
			return err
		}
		s.readyLine(c.Name, start, fmt.Sprintf("pid %d  http://%s%s", s.p.RecordedPid(c.Name), c.Addr(), s.niceNote(c.Name)))
	}
	return nil
}
