package admin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admin"
)

// fakeStore is a live state whose commit and reads fail on demand.
type fakeStore struct {
	commitErr, statsErr error
	undoDurable         bool
	commits, undos      int
}

func (f *fakeStore) PrepareStock(_ context.Context, total int64, _ time.Duration) (admin.StockChange, error) {
	return admin.StockChange{Version: 1, Total: total}, nil
}
func (f *fakeStore) CommitStock(context.Context, admin.StockChange) error {
	f.commits++
	return f.commitErr
}
func (f *fakeStore) UndoStock(context.Context, admin.StockChange) (bool, error) {
	f.undos++
	return f.undoDurable, nil
}
func (f *fakeStore) SetWindow(context.Context, time.Time, time.Time) (admin.WindowChange, error) {
	return admin.WindowChange{Version: 1}, nil
}
func (f *fakeStore) UndoWindow(context.Context, admin.WindowChange) (bool, error) {
	f.undos++
	return f.undoDurable, nil
}
func (f *fakeStore) Stats(context.Context) (admin.Stats, error) {
	return admin.Stats{Total: 1}, f.statsErr
}
func (f *fakeStore) ScanWinners(context.Context, func([]admin.Winner) error) error { return nil }

type fakeAnnouncer struct{ err error }

func (a fakeAnnouncer) AnnounceStock(context.Context, int64, int64) error { return a.err }
func (a fakeAnnouncer) AnnounceWindow(context.Context, time.Time, time.Time, int64) error {
	return a.err
}

var errDown = errors.New("redis down")

// TestAcknowledgedChangeSucceedsWhenRedisFailsAfterwards: once the broker
// acknowledged a change, stock-consumer will persist it and bring Redis up
// to it, so a failed commit or read answers success, never 503.
func TestAcknowledgedChangeSucceedsWhenRedisFailsAfterwards(t *testing.T) {
	st := &fakeStore{commitErr: errDown, statsErr: errDown}
	svc := admin.NewService(admin.Config{}, st, fakeAnnouncer{})
	got, err := svc.SetStock(context.Background(), 7)
	if err != nil || got.Total != 7 {
		t.Fatalf("SetStock = %+v, %v; want total 7 and no error", got, err)
	}
	if st.commits != 2 || st.undos != 0 {
		t.Fatalf("commits %d undos %d, want 2 and 0", st.commits, st.undos)
	}
}

// TestFailedPublishAnswers503UnlessTheChangeWasPersisted: the undo decides.
func TestFailedPublishAnswers503UnlessTheChangeWasPersisted(t *testing.T) {
	opens, closes := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, durable := range []bool{false, true} {
		st := &fakeStore{undoDurable: durable}
		svc := admin.NewService(admin.Config{}, st, fakeAnnouncer{err: errors.New("publish timed out")})
		_, stockErr := svc.SetStock(context.Background(), 7)
		_, windowErr := svc.SetWindow(context.Background(), opens, closes)
		for _, err := range []error{stockErr, windowErr} {
			if durable && err != nil {
				t.Fatalf("persisted change answered %v", err)
			}
			if !durable && !errors.Is(err, admin.ErrUnavailable) {
				t.Fatalf("undone change answered %v, want ErrUnavailable", err)
			}
		}
		if st.commits != 0 || st.undos != 2 {
			t.Fatalf("commits %d undos %d, want 0 and 2", st.commits, st.undos)
		}
	}
}
