package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Pauses between two attempts of Retry: the first pause, doubled after each
// failure up to the longest.
const (
	firstRetryPause   = 250 * time.Millisecond
	longestRetryPause = 2 * time.Second
)

// Retry calls attempt until it succeeds or ctx ends, so a service can start
// before its dependencies are up. Each failure is logged with what is being
// waited for. When ctx ends (the start-up deadline, a signal) it gives up
// and returns the last error the dependency gave, together with ctx's error.
// attempt receives ctx and should return when ctx ends.
func Retry(ctx context.Context, log *slog.Logger, what string, attempt func(ctx context.Context) error) error {
	pause := firstRetryPause
	var last error
	for n := 1; ; n++ {
		err := attempt(ctx)
		if err == nil {
			if n > 1 {
				log.Info("dependency available", "dependency", what, "attempts", n)
			}
			return nil
		}
		// An attempt cut short by ctx says less than the failure before it.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		if ctx.Err() != nil {
			return giveUp(ctx, what, n, last)
		}
		log.Warn("waiting for dependency", "dependency", what, "attempt", n, "retry_in", pause.String(), "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return giveUp(ctx, what, n, last)
		case <-t.C:
		}
		pause = min(pause*2, longestRetryPause)
	}
}

func giveUp(ctx context.Context, what string, attempts int, last error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s not available by the start-up deadline (%d attempts): %w", what, attempts, last)
	}
	return fmt.Errorf("stopped while waiting for %s (%d attempts): %w", what, attempts, last)
}
