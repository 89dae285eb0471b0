// Command bare serves the load test's bare handler (tools/internal/benchbare)
// on its own, for running the limit scenario by hand: the local stack's nginx
// routes /bench/bare to 127.0.0.1:8090 and 8091 (one per apply-gateway
// instance). `make bench` does not need it: it starts one such process per
// address itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/terning-farewell/farewell/tools/internal/benchbare"
)

func main() {
	addr := flag.String("addr", benchbare.DefaultAddr, "listen address (nginx's bench_bare upstream)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, addr string) error {
	fmt.Printf("bare handler on http://%s (nginx: %s)\n", addr, benchbare.Path)
	return benchbare.Serve(ctx, addr)
}
