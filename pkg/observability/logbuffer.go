package observability

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// LogBuffer batches a logger's writes: with one line per request, one
// write(2) per line costs a busy service more than formatting the line.
// What is written reaches the underlying writer when the buffer fills, at
// the latest one flush interval later, and on Flush or Close; after Close
// every write goes straight through, so nothing logged during or after
// shutdown is lost.
type LogBuffer struct {
	mu     sync.Mutex
	out    io.Writer
	buf    *bufio.Writer
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// DefaultLogFlush is how long a log line may wait in a LogBuffer.
const DefaultLogFlush = 100 * time.Millisecond

// NewLogBuffer buffers up to size bytes for out and flushes every interval,
// from a goroutine that Close stops.
func NewLogBuffer(out io.Writer, size int, every time.Duration) *LogBuffer {
	b := &LogBuffer{out: out, buf: bufio.NewWriterSize(out, size), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(every)
	return b
}

func (b *LogBuffer) flushEvery(every time.Duration) {
	defer close(b.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.Flush()
		}
	}
}

// Write buffers p (whole: a line is never interleaved with another).
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.out.Write(p)
	}
	return b.buf.Write(p)
}

// Flush writes out what is buffered.
func (b *LogBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

// Close stops the flusher and flushes; later writes are not buffered. Only
// the first call does anything.
func (b *LogBuffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	err := b.buf.Flush()
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return err
}
