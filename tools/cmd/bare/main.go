// Command bare serves the load test's bare handler (tools/internal/benchbare)
// on its own, for running the limit scenario by hand: nginx routes
// /bench/bare to 127.0.0.1:8090. `make bench` does not need it; the bench tool
// serves the same handler in-process.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

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
	srv, err := benchbare.Start(addr)
	if err != nil {
		return err
	}
	fmt.Printf("bare handler on http://%s (nginx: %s)\n", addr, benchbare.Path)
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
