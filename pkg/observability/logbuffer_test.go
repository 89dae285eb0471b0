package observability

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the flusher and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogBufferLosesNoLineOnClose(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	// An interval no test waits for: only Close can have flushed.
	b := NewLogBuffer(&out, 1<<20, time.Hour)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				_, _ = b.Write([]byte("a line of the log\n"))
			}
		}()
	}
	wg.Wait()
	if got := out.String(); got != "" {
		t.Fatalf("written through before any flush: %d bytes", len(got))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "a line of the log\n"); n != 4000 {
		t.Fatalf("%d whole lines after Close, want 4000", n)
	}
	_, _ = b.Write([]byte("after close\n"))
	if !strings.HasSuffix(out.String(), "after close\n") {
		t.Fatal("a write after Close was buffered")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLogBufferFlushesOnItsOwn(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	b := NewLogBuffer(&out, 1<<20, time.Millisecond)
	defer b.Close()
	_, _ = b.Write([]byte("soon\n"))
	for i := 0; i < 2000 && out.String() == ""; i++ {
		time.Sleep(time.Millisecond)
	}
	if out.String() != "soon\n" {
		t.Fatalf("not flushed by the interval: %q", out.String())
	}
}
