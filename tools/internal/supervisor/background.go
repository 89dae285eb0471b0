package supervisor

import (
	"context"
	"sync"
)

// background runs the slow preparations that do not depend on each other
// (Kafka's jars from Maven Central, the Mailpit build, the service builds)
// while the infrastructure starts, so a cold `make run` waits for the
// longest of them instead of their sum. Each is started at most once per
// call of Up/Infra/Services and waited for by the step that needs it; the
// call that started them cancels and waits for every one before it returns.
type background struct {
	wg    sync.WaitGroup
	jars  result[struct{}]
	mail  result[struct{}]
	build result[[]string]
}

// result is the outcome of one background step, ready once done is closed.
type result[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// start runs fn in a goroutine that bg owns and records its result in r.
func start[T any](ctx context.Context, bg *background, r *result[T], fn func(context.Context) (T, error)) {
	r.done = make(chan struct{})
	bg.wg.Add(1)
	go func() {
		defer bg.wg.Done()
		defer close(r.done)
		r.val, r.err = fn(ctx)
	}()
}

// wait returns the step's result, running fn now when the step was never
// started in the background.
func wait[T any](ctx context.Context, r *result[T], fn func(context.Context) (T, error)) (T, error) {
	if r == nil || r.done == nil {
		return fn(ctx)
	}
	select {
	case <-r.done:
		return r.val, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// scoped runs fn with a fresh set of background steps under a context that
// is cancelled when fn returns; it returns only after every step stopped.
func (s *Supervisor) scoped(ctx context.Context, fn func(context.Context, *background) error) error {
	bg := &background{}
	ctx, cancel := context.WithCancel(ctx)
	defer bg.wg.Wait()
	defer cancel()
	return fn(ctx, bg)
}

// noValue adapts a step without a result to start/wait.
func noValue(fn func(context.Context) error) func(context.Context) (struct{}, error) {
	return func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) }
}
