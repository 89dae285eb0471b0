// Command chaos runs the chaos suite against the running local stack: for
// each scenario a herd of synthetic participants goes through nginx while a
// fault is injected into a process the stack started (by its recorded pid),
// then the guarantees are checked from MySQL, Redis, Kafka and Mailpit and
// the stack is restored. It holds an exclusive flock on .run/stack.lock for
// its whole run, and exits 1 on any violation.
//
//	go run ./tools/cmd/chaos                              # every scenario (make chaos)
//	go run ./tools/cmd/chaos -scenario dup-storm,broker-outage
//	go run ./tools/cmd/chaos -list
//	go run ./tools/cmd/chaos -scenario ha                 # on `make run-ha` (make chaos-ha)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
	"github.com/terning-farewell/farewell/tools/internal/chaos"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx)
	stop()
	os.Exit(code)
}

func realMain(ctx context.Context) int {
	var (
		names    = flag.String("scenario", "all", "comma-separated scenarios or groups (see -list)")
		list     = flag.Bool("list", false, "list the scenarios and groups, then exit")
		reduced  = flag.Bool("reduced", false, "the small sizes used by the test inside `make test`")
		timeout  = flag.Duration("timeout", 45*time.Minute, "stop the whole run after this long")
		perLimit = flag.Duration("scenario-timeout", 8*time.Minute, "bound for one scenario (restore excluded)")
		lockWait = flag.Duration("lock-wait", 10*time.Minute, "how long to wait for the stack lock")
	)
	flag.Parse()
	if *list {
		for _, sc := range chaos.AllScenarios() {
			fmt.Printf("  %-30s %s\n", sc.Name, sc.Summary)
		}
		fmt.Println("groups:")
		for g, members := range chaos.Groups {
			fmt.Printf("  %-30s %v\n", g, members)
		}
		return 0
	}
	scs, err := chaos.Select(*names)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	s, err := chaos.OpenStack(os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer s.Close()
	lock, err := localstack.AcquireLock(ctx, s.Paths.Lock, *lockWait, "chaos", os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer func() { _ = lock.Release() }()
	if err := s.Preflight(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	start := time.Now()
	results := chaos.RunSuite(ctx, s, scs, chaos.Size{Reduced: *reduced}, *perLimit)
	fmt.Println()
	chaos.WriteTable(os.Stdout, results)
	failed := len(results) < len(scs)
	for _, r := range results {
		if !r.Passed() {
			failed = true
		}
	}
	fmt.Printf("\n%d of %d scenarios run in %s; timeline in %s/.run/logs/chaos.log\n", len(results), len(scs), time.Since(start).Round(time.Second), s.Root)
	if failed {
		fmt.Println("FAIL: at least one guarantee did not hold (see the violations above)")
		return 1
	}
	fmt.Println("PASS: every invariant held in every scenario")
	return 0
}
