package localstack

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockExcludesAndNamesTheHolder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "stack.lock")
	first, err := AcquireLock(context.Background(), path, time.Second, "first holder", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	_, err = AcquireLock(context.Background(), path, 600*time.Millisecond, "second", &log)
	if err == nil {
		t.Fatal("second AcquireLock succeeded while the first holds the lock")
	}
	if !strings.Contains(err.Error(), "first holder") || !strings.Contains(log.String(), "first holder") {
		t.Errorf("the holder is not named: err %q, log %q", err, log.String())
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	second, err := AcquireLock(context.Background(), path, time.Second, "second", &log)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	_ = second.Release()
}
