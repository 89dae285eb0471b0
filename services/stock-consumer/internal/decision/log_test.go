package decision

import (
	"context"
	"fmt"
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
	reads  int // LogAfter calls: lines read back from "MySQL"
}

func (m *memoryLog) LogAfter(_ context.Context, _ string, after int64, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
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

// waitCopied waits until the copy holds want lines.
func (m *memoryLog) waitCopied(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for m.copiedLen() != want {
		if time.Now().After(deadline) {
			t.Fatalf("copy has %d of %d lines", m.copiedLen(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newPublisher(t *testing.T, m *memoryLog) *LogPublisher {
	t.Helper()
	p, err := NewLogPublisher(m, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKickCopiesWithoutWaitingForTheTicker: with an hour between ticks, a
// kick alone brings the copy up to the persisted log, and Kick never
// blocks, however often it is called.
func TestKickCopiesWithoutWaitingForTheTicker(t *testing.T) {
	t.Parallel()
	m := &memoryLog{}
	p := newPublisher(t, m)
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
		m.waitCopied(t, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// persist appends n lines to the persisted log and returns them, as
// SaveDecisions does.
func (m *memoryLog) persist(n int) LogLines {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := LogLines{First: int64(len(m.lines)) + 1}
	for i := 0; i < n; i++ {
		line := fmt.Sprintf("line %d", len(m.lines)+1)
		m.lines = append(m.lines, line)
		out.Lines = append(out.Lines, line)
	}
	return out
}

// TestOfferedLinesAreCopiedWithoutReadingThemBack: the lines a persist
// returns are copied as they are; lines the copy cannot take (another
// replica's batch came between) make it read the missing ones from the
// persisted log, so the copy is complete either way.
func TestOfferedLinesAreCopiedWithoutReadingThemBack(t *testing.T) {
	t.Parallel()
	m := &memoryLog{}
	p := newPublisher(t, m)
	ctx := context.Background()
	p.CopyNow(ctx, "ev", m.persist(3))
	p.CopyNow(ctx, "ev", m.persist(2))
	if m.copiedLen() != 5 || m.reads != 0 {
		t.Fatalf("copy has %d of 5 lines after %d reads; want all, none read back", m.copiedLen(), m.reads)
	}
	m.persist(4) // another replica's batch, never offered here
	p.CopyNow(ctx, "ev", m.persist(1))
	if m.copiedLen() != 10 || m.reads == 0 {
		t.Fatalf("copy has %d of 10 lines after %d reads; want the gap read back", m.copiedLen(), m.reads)
	}
	for i, line := range m.copied {
		if line != fmt.Sprintf("line %d", i+1) {
			t.Fatalf("copy line %d is %q", i+1, line)
		}
	}
	// Offered through Run, the same.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx, "ev", time.Hour, time.Hour) }()
	p.Offer(ctx, "ev", m.persist(7))
	m.waitCopied(t, 17)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
