package decision

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// memoryLog is a persisted log and its copy in memory: a unit-test fake of
// MySQL's decision_log and the Redis copy, for the publisher's own logic.
type memoryLog struct {
	mu     sync.Mutex
	lines  []string
	copied []string
}

func (m *memoryLog) LogAfter(_ context.Context, _ string, after int64, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if after >= int64(len(m.lines)) {
		return nil, nil
	}
	end := min(int(after)+limit, len(m.lines))
	return append([]string(nil), m.lines[after:end]...), nil
}

func (m *memoryLog) FreezeLog(context.Context, string, time.Duration) (bool, error) {
	return false, nil
}

func (m *memoryLog) Length(context.Context, string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.copied)), nil
}

func (m *memoryLog) Append(_ context.Context, _ string, first int64, lines []string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if first == int64(len(m.copied))+1 {
		m.copied = append(m.copied, lines...)
	}
	return int64(len(m.copied)), nil
}

func (m *memoryLog) copiedLen() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.copied)
}

// TestKickCopiesWithoutWaitingForTheTicker: with an hour between ticks, a
// kick alone brings the copy up to the persisted log, and Kick never
// blocks, however often it is called.
func TestKickCopiesWithoutWaitingForTheTicker(t *testing.T) {
	t.Parallel()
	m := &memoryLog{}
	p, err := NewLogPublisher(m, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		p.Kick() // before Run: coalesced, never blocks
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, "ev", time.Hour, time.Hour) }()
	for round := 1; round <= 3; round++ {
		m.mu.Lock()
		for i := 0; i < 2500; i++ {
			m.lines = append(m.lines, "line")
		}
		want := len(m.lines)
		m.mu.Unlock()
		p.Kick()
		deadline := time.Now().Add(10 * time.Second)
		for m.copiedLen() != want {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: copy has %d of %d lines", round, m.copiedLen(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
